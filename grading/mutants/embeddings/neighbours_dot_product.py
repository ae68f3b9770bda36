"""nearest_neighbours ranks rows by dot product with the query instead of cosine similarity."""

import torch

CAUGHT_BY = ["embeddings.nearest_neighbours"]


def nearest_neighbours(weight, query_index, k=5, exclude_self=True):
    weight = weight.detach()
    scores = weight @ weight[query_index]
    if exclude_self:
        scores[query_index] = float("-inf")
    k = min(k, len(scores) - int(exclude_self))
    top_scores, top_indices = torch.topk(scores, k)
    return top_indices, top_scores
