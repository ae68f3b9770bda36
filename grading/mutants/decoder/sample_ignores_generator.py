"""sample_next_token draws with PyTorch's global random state instead of the generator it is given."""

CAUGHT_BY = ["decoder.sample"]


def sample_next_token(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    return draw_from(next_token_probs(scaled))
