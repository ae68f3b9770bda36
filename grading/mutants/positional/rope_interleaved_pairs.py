"""apply_rope rotates neighbouring pairs (2j, 2j+1) while the tables use the rotate-half layout."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len = x.shape[-2]
    cos, sin = (cos[:seq_len], sin[:seq_len]) if positions is None else (cos[positions], sin[positions])
    cos, sin = cos.to(x), sin.to(x)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([-x_odd, x_even], dim=-1).flatten(-2)  # (-x1, x0, -x3, x2, ...)
    return x * cos + rotated * sin
