"""get_pair_counts starts with `counts = counts or {}`: an EMPTY dict passed in is falsy, so it is
replaced by a new dict and the caller's dict stays empty (summing over chunks into one dict breaks)."""

CAUGHT_BY = ["tokenization.get_pair_counts"]


def get_pair_counts(ids, counts=None):
    counts = counts or {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
