"""sinusoidal_table puts all the sines in the first half and all the cosines in the second half."""

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    angles = positions * base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).to(dtype=dtype).to(device=device)
