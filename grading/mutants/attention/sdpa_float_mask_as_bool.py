"""scaled_dot_product_attention treats every mask as 0 = blocked (masked_fill(mask == 0, -inf)): an additive mask of zeros then blocks everything allowed."""

CAUGHT_BY = ["attention.scaled_dot_product_attention"]


def scaled_dot_product_attention(q, k, v, mask=None, *, return_weights=False):
    mask = _check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = softmax(scores, dim=-1)
    return (weights @ v, weights) if return_weights else weights @ v
