"""kl_penalized_rewards adds the score in the last column, which is padding for the shorter responses."""

CAUGHT_BY = ["rlhf.kl_rewards"]


def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask.to(logprobs.dtype)
    rewards[:, -1] += scores
    return rewards
