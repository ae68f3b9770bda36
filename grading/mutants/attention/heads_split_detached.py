"""split_heads copies the numbers through .tolist(): right values, but the projections never get a gradient."""

CAUGHT_BY = ["attention.heads"]


def split_heads(x, n_heads):
    *lead, seq_len, d_model = x.shape
    copy = torch.tensor(x.tolist(), dtype=x.dtype, device=x.device)
    return copy.reshape(*lead, seq_len, n_heads, d_model // n_heads).transpose(-3, -2)
