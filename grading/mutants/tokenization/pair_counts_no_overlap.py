"""get_pair_counts steps two ids at a time, so overlapping pairs ([1, 1, 1]) and odd pairs are missed."""

CAUGHT_BY = ["tokenization.get_pair_counts"]


def get_pair_counts(ids, counts=None):
    if counts is None:
        counts = {}
    for i in range(0, len(ids) - 1, 2):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts
