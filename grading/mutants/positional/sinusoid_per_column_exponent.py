"""sinusoidal_table gives every column its own exponent c/d_model, so cos column 2i+1 does not share the angle of sin column 2i."""

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    if max_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    angles = positions / base ** (torch.arange(d_model, dtype=torch.float64) / d_model)  # (max_len, d_model)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(dtype=dtype).to(device=device)
