"""cosine_similarity returns the raw dot products a @ b.T (no normalisation at all)."""

CAUGHT_BY = ["embeddings.cosine_similarity"]


def cosine_similarity(a, b, eps=1e-8):
    return a @ b.T
