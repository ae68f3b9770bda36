"""scaled_dot_product_attention fills the scores where the boolean mask is True (PyTorch's nn.MultiheadAttention convention, not this course's)."""

CAUGHT_BY = ["attention.scaled_dot_product_attention"]


def scaled_dot_product_attention(q, k, v, mask=None, *, return_weights=False):
    mask = _check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = softmax(scores, dim=-1)
    return (weights @ v, weights) if return_weights else weights @ v
