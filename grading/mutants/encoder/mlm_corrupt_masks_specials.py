"""mlm_corrupt ignores special_ids: padding and [CLS] can be chosen and masked."""

CAUGHT_BY = ["encoder.mlm_corrupt"]

_reference_corrupt = mlm_corrupt


def mlm_corrupt(ids, mask_id, vocab_size, *, special_ids=(), **kwargs):
    return _reference_corrupt(ids, mask_id, vocab_size, **kwargs)
