"""Block.forward builds its own causal mask with tril(diagonal=1): token t also sees token t + 1."""

CAUGHT_BY = ["decoder.block"]


def _forward(self, x, *, kv_cache=None):
    T = x.shape[1]
    mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril(diagonal=1)
    x = x + self.dropout(self.attn(self.norm1(x), mask=mask, kv_cache=kv_cache))
    x = x + self.dropout(self.mlp(self.norm2(x)))
    return x


Block.forward = _forward
