"""mlm_loss uses the plain mean with ignore_index: 0 / 0 = NaN when no position is chosen."""

CAUGHT_BY = ["encoder.mlm_loss"]


def mlm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError("shapes do not fit")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
