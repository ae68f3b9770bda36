"""apply_rope forgets the minus sign in rotate_half (cat([x2, x1])), which is not a rotation."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    cos, sin = (cos[:seq_len], sin[:seq_len]) if positions is None else (cos[positions], sin[positions])
    cos, sin = cos.to(x), sin.to(x)
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([x2, x1], dim=-1) * sin
