"""sequence_logprob averages the response's token log-probs instead of summing them."""

CAUGHT_BY = ["rlhf.sequence_logprob"]


def sequence_logprob(logits, input_ids, response_mask):
    per_token = token_logprobs(logits, input_ids)
    mask = response_mask[:, 1:].float()
    return (per_token * mask).sum(dim=1) / mask.sum(dim=1)
