"""GPT.features feeds the token vectors to the blocks without adding the position vectors."""

CAUGHT_BY = ["decoder.gpt"]


def _features(self, idx, *, kv_cache=None):
    x = self.drop(self.tok_emb(idx))
    for block, cache in zip(self.blocks, kv_cache if kv_cache is not None else [None] * len(self.blocks)):
        x = block(x, kv_cache=cache)
    return self.norm(x)


GPT.features = _features
