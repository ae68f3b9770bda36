"""nearest_neighbours takes the k best rows but returns them least similar first (ascending sort)."""

import torch

CAUGHT_BY = ["embeddings.nearest_neighbours"]


def nearest_neighbours(weight, query_index, k=5, exclude_self=True):
    weight = weight.detach()
    scores = cosine_similarity(weight[query_index:query_index + 1], weight)[0]  # noqa: F821
    if exclude_self:
        scores[query_index] = float("-inf")
    k = min(k, len(scores) - int(exclude_self))
    values, order = torch.sort(scores)  # ascending
    return order[-k:], values[-k:]
