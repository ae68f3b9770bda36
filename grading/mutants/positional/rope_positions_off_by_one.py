"""apply_rope starts counting positions at 1 (cos[1:seq+1]) instead of 0."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    if positions is None:
        positions = torch.arange(seq_len)
    cos, sin = cos[positions + 1].to(x), sin[positions + 1].to(x)
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin
