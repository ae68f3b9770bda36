"""token_logprobs scores the logits at position t on token t itself (no shift), dropping the last column."""

CAUGHT_BY = ["rlhf.token_logprobs"]


def token_logprobs(logits, input_ids):
    logprobs = F.log_softmax(logits.float(), dim=-1)
    return logprobs.gather(-1, input_ids.unsqueeze(-1)).squeeze(-1)[:, :-1]
