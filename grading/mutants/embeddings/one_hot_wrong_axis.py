"""one_hot puts the vocabulary axis first: shape (V, ...) instead of (..., V)."""

import torch

CAUGHT_BY = ["embeddings.one_hot"]


def one_hot(ids, vocab_size):
    positions = torch.arange(vocab_size, device=ids.device)
    return (positions.view(-1, *([1] * ids.dim())) == ids).float()
