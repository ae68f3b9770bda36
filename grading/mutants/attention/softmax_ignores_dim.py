"""softmax always normalises along the last axis, whatever `dim` says."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    row_max = x.amax(dim=-1, keepdim=True)
    row_max = torch.where(row_max == float("-inf"), torch.zeros_like(row_max), row_max).detach()
    exps = torch.exp(x - row_max)
    totals = exps.sum(dim=-1, keepdim=True)
    return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
