"""split_heads gives head h every n_heads-th feature (h, h + n_heads, ...) instead of a contiguous slice."""

CAUGHT_BY = ["attention.heads"]


def split_heads(x, n_heads):
    *lead, seq_len, d_model = x.shape
    return x.reshape(*lead, seq_len, d_model // n_heads, n_heads).movedim(-1, -3)
