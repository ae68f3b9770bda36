"""dpo_loss swaps chosen and rejected: it pushes the policy towards the rejected answers."""

CAUGHT_BY = ["rlhf.dpo_loss"]


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    margin = (policy_rejected_logps - ref_rejected_logps) - (policy_chosen_logps - ref_chosen_logps)
    return -F.logsigmoid(beta * margin).mean()
