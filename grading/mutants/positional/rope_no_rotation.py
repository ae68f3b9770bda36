"""apply_rope computes x * cos + x * sin (forgot to rotate the halves), which is not a rotation."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len = x.shape[-2]
    cos, sin = (cos[:seq_len], sin[:seq_len]) if positions is None else (cos[positions], sin[positions])
    return x * cos.to(x) + x * sin.to(x)
