"""GPT.features ignores the cache's length: with a cache, the new token gets the vector of position 0."""

CAUGHT_BY = ["decoder.kv_cache"]


def _features(self, idx, *, kv_cache=None):
    x = self.drop(self.tok_emb(idx) + self.pos_emb.weight[:idx.shape[1]])
    for block, cache in zip(self.blocks, kv_cache if kv_cache is not None else [None] * len(self.blocks)):
        x = block(x, kv_cache=cache)
    return self.norm(x)


GPT.features = _features
