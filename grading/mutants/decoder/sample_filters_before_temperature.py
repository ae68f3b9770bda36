"""sample_next_token filters the raw scores and applies the temperature afterwards: top-p picks the nucleus of the wrong distribution."""

CAUGHT_BY = ["decoder.sample"]


def sample_next_token(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    filtered = logits.float()
    if top_k is not None:
        filtered = top_k_filter(filtered, top_k)
    if top_p is not None:
        filtered = top_p_filter(filtered, top_p)
    return draw_from(next_token_probs(filtered, temperature), generator)
