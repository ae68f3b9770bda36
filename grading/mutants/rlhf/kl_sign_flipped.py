"""kl_penalized_rewards adds the KL term instead of subtracting it: drifting from the reference is rewarded."""

CAUGHT_BY = ["rlhf.kl_rewards"]


def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    mask = mask.to(logprobs.dtype)
    rewards = kl_coef * (logprobs - ref_logprobs) * mask
    last = mask.long().sum(dim=1) - 1
    return rewards.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1))
