"""bradley_terry_loss computes log(sigmoid(x)), which is -inf once sigmoid underflows (margin -1000)."""

CAUGHT_BY = ["rlhf.bradley_terry"]


def bradley_terry_loss(chosen_rewards, rejected_rewards):
    return -torch.log(torch.sigmoid(chosen_rewards - rejected_rewards)).mean()
