"""apply_rope writes the rotation into x itself (in place) and returns x: the caller's queries change."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    cos, sin = (cos[:seq_len], sin[:seq_len]) if positions is None else (cos[positions], sin[positions])
    cos, sin = cos.to(x), sin.to(x)
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    x.mul_(cos).add_(rotated * sin)
    return x
