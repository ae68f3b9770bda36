"""mlm_loss sums over the chosen positions but divides by the number of ALL positions."""

CAUGHT_BY = ["encoder.mlm_loss"]


def mlm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError("shapes do not fit")
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                            reduction="sum")
    return total / labels.numel()
