"""group_relative_advantages subtracts the group mean but does not divide by the group's std."""

CAUGHT_BY = ["rlhf.grpo_advantages"]


def group_relative_advantages(scores, group_size, eps=1e-6):
    groups = scores.view(-1, group_size)
    return (groups - groups.mean(dim=1, keepdim=True)).reshape(-1)
