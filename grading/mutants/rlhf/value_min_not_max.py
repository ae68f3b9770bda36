"""value_loss keeps the smaller of the clipped and unclipped errors instead of the larger."""

CAUGHT_BY = ["rlhf.value_loss"]


def value_loss(values, old_values, returns, mask, clip_eps=0.2):
    error = (values - returns) ** 2
    if clip_eps is not None:
        clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
        error = torch.min(error, (clipped - returns) ** 2)
    return 0.5 * masked_mean(error, mask)
