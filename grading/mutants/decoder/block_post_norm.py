"""Block.forward is post-norm (normalises after adding the residual), not GPT's pre-norm."""

CAUGHT_BY = ["decoder.block"]


def _forward(self, x, *, kv_cache=None):
    x = self.norm1(x + self.dropout(self.attn(x, is_causal=True, kv_cache=kv_cache)))
    x = self.norm2(x + self.dropout(self.mlp(x)))
    return x


Block.forward = _forward
