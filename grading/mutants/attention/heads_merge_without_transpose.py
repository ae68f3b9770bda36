"""merge_heads reshapes (B, n_heads, T, d_head) straight to (B, T, d_model), without moving the tokens first."""

CAUGHT_BY = ["attention.heads"]


def merge_heads(x):
    *lead, n_heads, seq_len, d_head = x.shape
    return x.reshape(*lead, seq_len, n_heads * d_head)
