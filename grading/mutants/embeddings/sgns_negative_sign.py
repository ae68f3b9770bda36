"""sgns_loss uses logsigmoid(+c·n) for the negatives, rewarding random words for scoring HIGH."""

import torch
import torch.nn.functional as F

CAUGHT_BY = ["embeddings.sgns_loss"]


def sgns_loss(center_vecs, context_vecs, negative_vecs):
    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.bmm(negative_vecs, center_vecs.unsqueeze(-1)).squeeze(-1)
    return -(F.logsigmoid(positive) + F.logsigmoid(negative).sum(-1)).mean()
