"""ppo_clip_loss averages over every position, padding included (.mean() instead of the masked mean)."""

CAUGHT_BY = ["rlhf.ppo_clip_loss"]


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -torch.min(ratio * advantages, clipped).mean()
