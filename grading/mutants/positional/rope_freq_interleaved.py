"""rope_frequencies lays the angles out interleaved (repeat_interleave), which does not match apply_rope's rotate-half pairing."""

CAUGHT_BY = ["positional.rope_frequencies"]


def rope_frequencies(head_dim, max_len, base=10000.0, *, dtype=torch.float32, device=None):
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = (positions * theta).repeat_interleave(2, dim=-1)
    return angles.cos().to(dtype=dtype).to(device=device), angles.sin().to(dtype=dtype).to(device=device)
