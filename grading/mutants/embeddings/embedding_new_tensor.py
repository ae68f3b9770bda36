"""Embedding.forward copies the rows into a brand-new tensor with torch.tensor(...), cutting the graph."""

import torch

CAUGHT_BY = ["embeddings.embedding"]


class Embedding(Embedding):  # noqa: F821 - the reference class, overridden in place
    def forward(self, ids):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise IndexError("id out of range")
        rows = [[self.weight[i].tolist() for i in row] for row in ids.reshape(-1, ids.shape[-1]).tolist()]
        return torch.tensor(rows, device=self.weight.device).reshape(*ids.shape, self.embedding_dim)
