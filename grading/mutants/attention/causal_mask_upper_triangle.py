"""causal_mask keeps the upper triangle: True where attending to the FUTURE."""

CAUGHT_BY = ["attention.masks"]


def causal_mask(n_q, n_k=None, *, device=None):
    n_k = n_q if n_k is None else n_k
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).triu(diagonal=n_k - n_q)
