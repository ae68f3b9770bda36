"""split_heads reshapes (B, T, d_model) straight to (B, n_heads, T, d_head), without the transpose: tokens get mixed up."""

CAUGHT_BY = ["attention.heads"]


def split_heads(x, n_heads):
    *lead, seq_len, d_model = x.shape
    return x.reshape(*lead, n_heads, seq_len, d_model // n_heads)
