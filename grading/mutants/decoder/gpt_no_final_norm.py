"""GPT.features returns the last block's output without the final norm."""

CAUGHT_BY = ["decoder.gpt"]


def _features(self, idx, *, kv_cache=None):
    start = 0 if kv_cache is None else kv_cache[0].length
    x = self.drop(self.tok_emb(idx) + self.pos_emb.weight[start:start + idx.shape[1]])
    for block, cache in zip(self.blocks, kv_cache if kv_cache is not None else [None] * len(self.blocks)):
        x = block(x, kv_cache=cache)
    return x


GPT.features = _features
