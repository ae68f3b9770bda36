"""sft_loss averages each row's loss, then the rows: a short answer weighs as much as a long one."""

CAUGHT_BY = ["finetuning.sft_loss"]


def sft_loss(logits, labels):
    if logits.dim() != 3 or labels.dim() != 2 or tuple(logits.shape[:2]) != tuple(labels.shape):
        raise ValueError("bad shapes")
    rows = [F.cross_entropy(logits[i, :-1], labels[i, 1:], ignore_index=IGNORE_INDEX) for i in range(len(labels))]
    return torch.stack(rows).mean()
