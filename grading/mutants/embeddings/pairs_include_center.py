"""skipgram_pairs loops over positions i-window..i+window without skipping i: (w, w) self-pairs."""

import torch

CAUGHT_BY = ["embeddings.skipgram_pairs"]


def skipgram_pairs(token_ids, window):
    ids = [int(t) for t in token_ids]
    if window < 1:
        raise ValueError("window must be at least 1")
    pairs = []
    for i, center in enumerate(ids):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            pairs.append((center, ids[j]))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
