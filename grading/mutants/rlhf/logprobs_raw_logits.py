"""token_logprobs gathers the raw logits (no log_softmax), which are not log-probabilities."""

CAUGHT_BY = ["rlhf.token_logprobs"]


def token_logprobs(logits, input_ids):
    return logits[:, :-1].float().gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
