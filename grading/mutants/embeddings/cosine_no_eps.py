"""cosine_similarity divides by the norms without eps: a zero vector gives NaN."""

CAUGHT_BY = ["embeddings.cosine_similarity"]


def cosine_similarity(a, b, eps=1e-8):
    return (a @ b.T) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True).T)
