"""Embedding.forward has no range check, so id -1 silently reads the last row."""

CAUGHT_BY = ["embeddings.embedding"]


class Embedding(Embedding):  # noqa: F821 - the reference class, overridden in place
    def forward(self, ids):
        return self.weight[ids]
