"""value_loss forgets the conventional factor 0.5."""

CAUGHT_BY = ["rlhf.value_loss"]


def value_loss(values, old_values, returns, mask, clip_eps=0.2):
    error = (values - returns) ** 2
    if clip_eps is not None:
        clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
        error = torch.max(error, (clipped - returns) ** 2)
    return masked_mean(error, mask)
