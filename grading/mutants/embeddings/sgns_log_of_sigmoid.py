"""sgns_loss computes torch.log(torch.sigmoid(x)), which is -inf once sigmoid underflows to 0."""

import torch

CAUGHT_BY = ["embeddings.sgns_loss"]


def sgns_loss(center_vecs, context_vecs, negative_vecs):
    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.bmm(negative_vecs, center_vecs.unsqueeze(-1)).squeeze(-1)
    return -(torch.log(torch.sigmoid(positive)) + torch.log(torch.sigmoid(-negative)).sum(-1)).mean()
