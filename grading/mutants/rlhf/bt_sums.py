"""bradley_terry_loss sums over the batch instead of averaging."""

CAUGHT_BY = ["rlhf.bradley_terry"]


def bradley_terry_loss(chosen_rewards, rejected_rewards):
    return -F.logsigmoid(chosen_rewards - rejected_rewards).sum()
