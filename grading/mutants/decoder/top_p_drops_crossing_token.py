"""top_p_filter keeps only the tokens whose cumulative probability is <= p: it drops the token that crosses p."""

CAUGHT_BY = ["decoder.top_p"]


def top_p_filter(logits, p):
    if p >= 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    cumulative = torch.softmax(sorted_logits.double(), dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative > p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
