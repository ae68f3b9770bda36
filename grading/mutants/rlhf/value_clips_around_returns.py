"""value_loss clips the prediction around the returns instead of around the old values."""

CAUGHT_BY = ["rlhf.value_loss"]


def value_loss(values, old_values, returns, mask, clip_eps=0.2):
    error = (values - returns) ** 2
    if clip_eps is not None:
        clipped = returns + torch.clamp(values - returns, -clip_eps, clip_eps)
        error = torch.max(error, (clipped - returns) ** 2)
    return 0.5 * masked_mean(error, mask)
