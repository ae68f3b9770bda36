"""sinusoidal_table puts cos in the even columns and sin in the odd ones."""

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    angles = positions * base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.cos(angles)
    table[:, 1::2] = torch.sin(angles)
    return table.to(dtype=dtype).to(device=device)
