"""scaled_dot_product_attention takes the softmax over the queries (dim=-2) instead of the keys."""

CAUGHT_BY = ["attention.scaled_dot_product_attention"]


def scaled_dot_product_attention(q, k, v, mask=None, *, return_weights=False):
    mask = _check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = softmax(scores, dim=-2)
    return (weights @ v, weights) if return_weights else weights @ v
