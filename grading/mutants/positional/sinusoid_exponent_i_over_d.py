"""sinusoidal_table uses the exponent i/d_model (pair index) instead of 2i/d_model."""

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = positions / base ** (i / d_model)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.to(dtype=dtype).to(device=device)
