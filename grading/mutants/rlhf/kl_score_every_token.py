"""kl_penalized_rewards adds the sequence's score at every token instead of once, at the end."""

CAUGHT_BY = ["rlhf.kl_rewards"]


def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    mask = mask.to(logprobs.dtype)
    return (-kl_coef * (logprobs - ref_logprobs) + scores[:, None]) * mask
