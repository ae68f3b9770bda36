"""compute_gae returns the advantages as the returns (forgets to add the values back)."""

CAUGHT_BY = ["rlhf.gae"]


def compute_gae(rewards, values, dones, gamma=1.0, lam=0.95, last_values=None):
    not_done = 1.0 - dones.to(rewards.dtype)
    next_value = torch.zeros_like(rewards[..., 0]) if last_values is None else last_values
    running = torch.zeros_like(rewards[..., 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[-1])):
        delta = rewards[..., t] + gamma * next_value * not_done[..., t] - values[..., t]
        running = delta + gamma * lam * not_done[..., t] * running
        advantages[..., t] = running
        next_value = values[..., t]
    return advantages, advantages.clone()
