"""Embedding.forward looks rows up in self.weight.data, so no gradient ever reaches the table."""

CAUGHT_BY = ["embeddings.embedding"]


class Embedding(Embedding):  # noqa: F821 - the reference class, overridden in place
    def forward(self, ids):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise IndexError("id out of range")
        return self.weight.data[ids]
