"""mlm_corrupt labels the chosen positions with the corrupted ids ([MASK]) instead of the original ones."""

CAUGHT_BY = ["encoder.mlm_corrupt"]

_reference_corrupt = mlm_corrupt


def mlm_corrupt(ids, mask_id, vocab_size, **kwargs):
    corrupted, labels = _reference_corrupt(ids, mask_id, vocab_size, **kwargs)
    return corrupted, torch.where(labels != -100, corrupted, labels)
