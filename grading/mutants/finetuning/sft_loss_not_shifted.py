"""sft_loss compares the logits at t with the label at t (no shift): the model learns to copy its input."""

CAUGHT_BY = ["finetuning.sft_loss"]


def sft_loss(logits, labels):
    if logits.dim() != 3 or labels.dim() != 2 or tuple(logits.shape[:2]) != tuple(labels.shape):
        raise ValueError("bad shapes")
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX)
