"""bradley_terry_loss swaps chosen and rejected: it rewards ranking the rejected answer higher."""

CAUGHT_BY = ["rlhf.bradley_terry"]


def bradley_terry_loss(chosen_rewards, rejected_rewards):
    return -F.logsigmoid(rejected_rewards - chosen_rewards).mean()
