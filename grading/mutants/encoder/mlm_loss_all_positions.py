"""mlm_loss scores every position (the -100 labels read as id 0), not only the chosen ones."""

CAUGHT_BY = ["encoder.mlm_loss"]


def mlm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError("shapes do not fit")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).clamp(min=0))
