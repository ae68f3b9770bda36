"""rope_frequencies uses theta_j = base ** (-j / head_dim) instead of base ** (-2j / head_dim)."""

CAUGHT_BY = ["positional.rope_frequencies"]


def rope_frequencies(head_dim, max_len, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    theta = base ** (-torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)
    angles = torch.cat([positions * theta] * 2, dim=-1)
    return angles.cos().to(dtype=dtype).to(device=device), angles.sin().to(dtype=dtype).to(device=device)
