"""merge_pair edits the list it is given (del/assignment in place) instead of building a new one."""

CAUGHT_BY = ["tokenization.merge_pair"]


def merge_pair(ids, pair, new_id):
    i = 0
    while i < len(ids) - 1:
        if ids[i] == pair[0] and ids[i + 1] == pair[1]:
            ids[i] = new_id
            del ids[i + 1]
        i += 1
    return ids
