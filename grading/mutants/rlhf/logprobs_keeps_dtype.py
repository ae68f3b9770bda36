"""token_logprobs computes in the logits' own dtype, so bfloat16 logits give coarse bfloat16 log-probs."""

CAUGHT_BY = ["rlhf.token_logprobs"]


def token_logprobs(logits, input_ids):
    logprobs = F.log_softmax(logits[:, :-1], dim=-1)
    return logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
