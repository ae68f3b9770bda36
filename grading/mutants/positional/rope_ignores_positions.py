"""apply_rope ignores its `positions` argument and always uses positions 0..seq-1."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    cos, sin = cos[:seq_len].to(x), sin[:seq_len].to(x)
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin
