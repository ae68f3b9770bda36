"""apply_rope converts x and the tables to float32, so a float64 x loses precision (and comes back as float32)."""

CAUGHT_BY = ["positional.apply_rope"]


def apply_rope(x, cos, sin, positions=None):
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    cos, sin = (cos[:seq_len], sin[:seq_len]) if positions is None else (cos[positions], sin[positions])
    x32, cos, sin = x.float(), cos.float().to(x.device), sin.float().to(x.device)
    x1, x2 = x32[..., :half], x32[..., half:]
    return x32 * cos + torch.cat([-x2, x1], dim=-1) * sin
