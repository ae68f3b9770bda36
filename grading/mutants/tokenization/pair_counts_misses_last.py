"""get_pair_counts stops one position early and never counts the last pair."""

CAUGHT_BY = ["tokenization.get_pair_counts"]


def get_pair_counts(ids, counts=None):
    if counts is None:
        counts = {}
    for i in range(len(ids) - 2):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts
