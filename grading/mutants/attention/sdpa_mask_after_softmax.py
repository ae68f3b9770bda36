"""scaled_dot_product_attention zeroes the masked weights AFTER the softmax: rows no longer sum to 1."""

CAUGHT_BY = ["attention.scaled_dot_product_attention"]


def scaled_dot_product_attention(q, k, v, mask=None, *, return_weights=False):
    mask = _check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask if mask.dtype == torch.bool else weights + mask
    return (weights @ v, weights) if return_weights else weights @ v
