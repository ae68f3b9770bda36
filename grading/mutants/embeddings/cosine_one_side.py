"""cosine_similarity normalises the rows of a but forgets to normalise b."""

CAUGHT_BY = ["embeddings.cosine_similarity"]


def cosine_similarity(a, b, eps=1e-8):
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    return a_unit @ b.T
