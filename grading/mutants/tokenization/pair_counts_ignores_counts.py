"""get_pair_counts ignores the `counts` argument and always starts a new dict."""

CAUGHT_BY = ["tokenization.get_pair_counts"]


def get_pair_counts(ids, counts=None):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
