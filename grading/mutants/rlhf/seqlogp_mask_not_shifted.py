"""sequence_logprob lines the mask up with the wrong tokens (response_mask[:, :-1]): off by one."""

CAUGHT_BY = ["rlhf.sequence_logprob"]


def sequence_logprob(logits, input_ids, response_mask):
    per_token = token_logprobs(logits, input_ids)
    return (per_token * response_mask[:, :-1].float()).sum(dim=1)
