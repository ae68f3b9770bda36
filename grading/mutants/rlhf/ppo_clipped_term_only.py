"""ppo_clip_loss uses the clipped term alone (no min with the unclipped one)."""

CAUGHT_BY = ["rlhf.ppo_clip_loss"]


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logprobs - old_logprobs)
    return -masked_mean(torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages, mask)
