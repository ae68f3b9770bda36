"""sequence_logprob sums the log-probs of every token: the prompt (and the padding) count as if the policy wrote them."""

CAUGHT_BY = ["rlhf.sequence_logprob"]


def sequence_logprob(logits, input_ids, response_mask):
    return token_logprobs(logits, input_ids).sum(dim=1)
