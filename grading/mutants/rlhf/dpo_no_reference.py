"""dpo_loss forgets the reference model: -log sigmoid(beta * (pc - pr))."""

CAUGHT_BY = ["rlhf.dpo_loss"]


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps)).mean()
