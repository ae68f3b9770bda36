"""mlm_corrupt returns the original ids as labels everywhere (no -100): the loss would score every position."""

CAUGHT_BY = ["encoder.mlm_corrupt"]

_reference_corrupt = mlm_corrupt


def mlm_corrupt(ids, mask_id, vocab_size, **kwargs):
    corrupted, _ = _reference_corrupt(ids, mask_id, vocab_size, **kwargs)
    return corrupted, ids.long().clone()
