"""scaled_dot_product_attention returns the scaled scores (before the softmax) as the weights."""

CAUGHT_BY = ["attention.scaled_dot_product_attention"]


def scaled_dot_product_attention(q, k, v, mask=None, *, return_weights=False):
    mask = _check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = softmax(scores, dim=-1)
    return (weights @ v, scores) if return_weights else weights @ v
