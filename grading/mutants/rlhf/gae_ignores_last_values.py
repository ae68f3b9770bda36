"""compute_gae ignores last_values: a row cut off mid-episode is treated as if it had ended."""

CAUGHT_BY = ["rlhf.gae"]


def compute_gae(rewards, values, dones, gamma=1.0, lam=0.95, last_values=None):
    not_done = 1.0 - dones.to(rewards.dtype)
    next_value = torch.zeros_like(rewards[..., 0])
    running = torch.zeros_like(rewards[..., 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[-1])):
        delta = rewards[..., t] + gamma * next_value * not_done[..., t] - values[..., t]
        running = delta + gamma * lam * not_done[..., t] * running
        advantages[..., t] = running
        next_value = values[..., t]
    return advantages, advantages + values
