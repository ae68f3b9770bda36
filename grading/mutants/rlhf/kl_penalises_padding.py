"""kl_penalized_rewards applies the KL penalty at the padding too (no mask on the penalty)."""

CAUGHT_BY = ["rlhf.kl_rewards"]


def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    rewards = -kl_coef * (logprobs - ref_logprobs)
    last = mask.long().sum(dim=1) - 1
    return rewards.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1))
