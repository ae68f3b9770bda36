"""skipgram_pairs loops over range(1, window): the words exactly `window` away are missing."""

import torch

CAUGHT_BY = ["embeddings.skipgram_pairs"]


def skipgram_pairs(token_ids, window):
    ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(-1)
    if window < 1:
        raise ValueError("window must be at least 1")
    pieces = [torch.empty(0, 2, dtype=torch.long)]
    for d in range(1, min(window, len(ids))):
        pieces.append(torch.stack([ids[:-d], ids[d:]], dim=1))
        pieces.append(torch.stack([ids[d:], ids[:-d]], dim=1))
    return torch.cat(pieces)
