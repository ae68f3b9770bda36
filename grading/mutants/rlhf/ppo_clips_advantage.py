"""ppo_clip_loss clips the advantage instead of the ratio: ratio * clamp(A, 1 - eps, 1 + eps)."""

CAUGHT_BY = ["rlhf.ppo_clip_loss"]


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = ratio * torch.clamp(advantages, 1.0 - clip_eps, 1.0 + clip_eps)
    return -masked_mean(torch.min(ratio * advantages, clipped), mask)
