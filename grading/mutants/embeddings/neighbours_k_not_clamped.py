"""nearest_neighbours passes k straight to torch.topk, which fails when k exceeds the rows left."""

import torch

CAUGHT_BY = ["embeddings.nearest_neighbours"]


def nearest_neighbours(weight, query_index, k=5, exclude_self=True):
    weight = weight.detach()
    scores = cosine_similarity(weight[query_index:query_index + 1], weight)[0]  # noqa: F821
    if exclude_self:
        scores[query_index] = float("-inf")
    top_scores, top_indices = torch.topk(scores, min(k, len(scores)))
    return top_indices, top_scores
