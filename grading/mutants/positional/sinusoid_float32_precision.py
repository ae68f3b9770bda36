"""sinusoidal_table computes in float32 and only converts at the end, so dtype=float64 is not accurate."""

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    if max_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    positions = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    angles = positions * base ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    table = torch.empty(max_len, d_model)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.to(dtype=dtype, device=device)
