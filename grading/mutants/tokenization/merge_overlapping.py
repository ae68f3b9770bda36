"""merge_pair does not skip the second id after a merge, so [7, 7, 7] becomes [99, 99, 7]."""

CAUGHT_BY = ["tokenization.merge_pair"]


def merge_pair(ids, pair, new_id):
    merged = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            merged.append(new_id)
        else:
            merged.append(ids[i])
        i += 1
    return merged
