"""causal_mask returns torch.tril(torch.ones(n_q, n_k)): float 0/1, which attention would ADD to the scores."""

CAUGHT_BY = ["attention.masks"]


def causal_mask(n_q, n_k=None, *, device=None):
    n_k = n_q if n_k is None else n_k
    return torch.tril(torch.ones(n_q, n_k, device=device), diagonal=n_k - n_q)
