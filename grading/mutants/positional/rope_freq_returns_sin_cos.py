"""rope_frequencies returns (sin, cos) instead of (cos, sin)."""

CAUGHT_BY = ["positional.rope_frequencies"]


def rope_frequencies(head_dim, max_len, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.cat([positions * theta] * 2, dim=-1)
    return angles.sin().to(dtype=dtype).to(device=device), angles.cos().to(dtype=dtype).to(device=device)
