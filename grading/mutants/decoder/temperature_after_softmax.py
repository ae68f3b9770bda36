"""next_token_probs divides the probabilities (after the softmax) by the temperature and renormalises: no effect at all."""

CAUGHT_BY = ["decoder.next_token_probs"]


def next_token_probs(logits, temperature=1.0):
    if not temperature > 0:
        raise ValueError("temperature must be > 0")
    probs = torch.softmax(logits.float(), dim=-1) / temperature
    return probs / probs.sum(dim=-1, keepdim=True)
