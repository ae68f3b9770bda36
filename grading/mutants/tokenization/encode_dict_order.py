"""encode_chunk replays the merges in the dict's insertion order rather than by new id (rank)."""

CAUGHT_BY = ["tokenization.encode"]


def encode_chunk(chunk, merges):
    ids = list(chunk)
    for pair, new_id in merges.items():
        ids = merge_pair(ids, pair, new_id)  # noqa: F821
    return ids
