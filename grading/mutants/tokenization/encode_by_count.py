"""encode_chunk applies the most frequent known pair of the chunk first, instead of the earliest-learned merge."""

CAUGHT_BY = ["tokenization.encode"]


def encode_chunk(chunk, merges):
    ids = list(chunk)
    while len(ids) >= 2:
        counts = {p: c for p, c in get_pair_counts(ids).items() if p in merges}  # noqa: F821
        if not counts:
            break
        pair = max(counts, key=counts.get)
        ids = merge_pair(ids, pair, merges[pair])  # noqa: F821
    return ids
