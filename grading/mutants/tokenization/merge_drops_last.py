"""merge_pair loops while i < len(ids) - 1 and loses the last id when it is not merged."""

CAUGHT_BY = ["tokenization.merge_pair"]


def merge_pair(ids, pair, new_id):
    merged = []
    i = 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == tuple(pair):
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged
