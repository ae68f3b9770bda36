"""mlm_corrupt writes the corruption into `ids` itself (the caller's tensor is changed)."""

CAUGHT_BY = ["encoder.mlm_corrupt"]

_reference_corrupt = mlm_corrupt


def mlm_corrupt(ids, mask_id, vocab_size, **kwargs):
    corrupted, labels = _reference_corrupt(ids, mask_id, vocab_size, **kwargs)
    ids.copy_(corrupted)
    return ids, labels
