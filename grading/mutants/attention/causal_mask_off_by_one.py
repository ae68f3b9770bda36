"""causal_mask leaves out the diagonal: a query may not attend to its own position."""

CAUGHT_BY = ["attention.masks"]


def causal_mask(n_q, n_k=None, *, device=None):
    n_k = n_q if n_k is None else n_k
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril(diagonal=n_k - n_q - 1)
