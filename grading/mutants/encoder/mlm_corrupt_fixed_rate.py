"""mlm_corrupt hard-codes 15% and ignores mask_prob."""

CAUGHT_BY = ["encoder.mlm_corrupt"]

_reference_corrupt = mlm_corrupt


def mlm_corrupt(ids, mask_id, vocab_size, *, mask_prob=0.15, **kwargs):
    return _reference_corrupt(ids, mask_id, vocab_size, mask_prob=0.15, **kwargs)
