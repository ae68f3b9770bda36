"""cross_entropy takes log(exp(z) / sum(exp(z))) directly: exp overflows for large logits (inf/nan)."""

CAUGHT_BY = ["training.cross_entropy"]


def cross_entropy(logits, targets, *, ignore_index=-100):
    flat, t = logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)
    keep = t != ignore_index
    probs = flat.exp() / flat.exp().sum(dim=-1, keepdim=True)
    picked = probs.gather(1, torch.where(keep, t, 0).unsqueeze(1)).squeeze(1).log()
    return -(picked * keep).sum() / keep.sum()
