"""group_relative_advantages groups the scores with view(group_size, -1): every group_size-th score, not consecutive ones."""

CAUGHT_BY = ["rlhf.grpo_advantages"]


def group_relative_advantages(scores, group_size, eps=1e-6):
    groups = scores.view(group_size, -1)
    mean, std = groups.mean(dim=0, keepdim=True), groups.std(dim=0, keepdim=True)
    return ((groups - mean) / (std + eps)).reshape(-1)
