"""rope_frequencies returns tables of head_dim/2 columns (forgot to repeat the angles for both halves)."""

CAUGHT_BY = ["positional.rope_frequencies"]


def rope_frequencies(head_dim, max_len, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    angles = positions * base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return angles.cos().to(dtype=dtype).to(device=device), angles.sin().to(dtype=dtype).to(device=device)
