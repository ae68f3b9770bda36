"""group_relative_advantages standardises over the whole batch instead of within each prompt's group."""

CAUGHT_BY = ["rlhf.grpo_advantages"]


def group_relative_advantages(scores, group_size, eps=1e-6):
    return (scores - scores.mean()) / (scores.std() + eps)
