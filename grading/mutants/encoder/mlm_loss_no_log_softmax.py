"""mlm_loss takes -log of the raw logit of the label (no softmax), or rather the negative logit itself."""

CAUGHT_BY = ["encoder.mlm_loss"]


def mlm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError("shapes do not fit")
    chosen = labels != -100
    picked = logits[chosen].gather(-1, labels[chosen].long()[:, None])[:, 0]
    return -picked.sum() / chosen.sum().clamp(min=1)
