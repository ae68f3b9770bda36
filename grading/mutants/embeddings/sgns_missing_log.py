"""sgns_loss forgets the log: it averages -sigmoid(c·o) - sum sigmoid(-c·n)."""

import torch

CAUGHT_BY = ["embeddings.sgns_loss"]


def sgns_loss(center_vecs, context_vecs, negative_vecs):
    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.bmm(negative_vecs, center_vecs.unsqueeze(-1)).squeeze(-1)
    return -(torch.sigmoid(positive) + torch.sigmoid(-negative).sum(-1)).mean()
