"""Embedding.forward indexes the columns of the table (self.weight[:, ids]) instead of its rows."""

CAUGHT_BY = ["embeddings.embedding"]


class Embedding(Embedding):  # noqa: F821 - the reference class, overridden in place
    def forward(self, ids):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise IndexError("id out of range")
        return self.weight[:, ids]
