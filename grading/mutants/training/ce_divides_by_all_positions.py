"""cross_entropy averages over every position, the ignored ones included (divides by n, not by the kept count)."""

CAUGHT_BY = ["training.cross_entropy"]


def cross_entropy(logits, targets, *, ignore_index=-100):
    flat, t = logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)
    keep = t != ignore_index
    log_probs = flat - torch.logsumexp(flat, dim=-1, keepdim=True)
    picked = log_probs.gather(1, torch.where(keep, t, 0).unsqueeze(1)).squeeze(1)
    return -(picked * keep).sum() / t.numel()
