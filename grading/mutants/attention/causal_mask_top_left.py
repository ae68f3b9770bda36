"""causal_mask is aligned top-left: with more keys than queries (a KV cache) the new tokens cannot see the latest keys."""

CAUGHT_BY = ["attention.masks"]


def causal_mask(n_q, n_k=None, *, device=None):
    n_k = n_q if n_k is None else n_k
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()
