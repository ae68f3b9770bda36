"""dpo_loss applies beta to the chosen log-ratio only: beta * (pc - rc) - (pr - rr)."""

CAUGHT_BY = ["rlhf.dpo_loss"]


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    margin = beta * (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(margin).mean()
