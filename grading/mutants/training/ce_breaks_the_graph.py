"""cross_entropy computes the right number but returns torch.tensor(loss.item()): no gradient can flow."""

CAUGHT_BY = ["training.cross_entropy"]

_right_cross_entropy = cross_entropy


def cross_entropy(logits, targets, *, ignore_index=-100):
    return torch.tensor(_right_cross_entropy(logits, targets, ignore_index=ignore_index).item())
