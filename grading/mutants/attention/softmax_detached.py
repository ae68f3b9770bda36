"""softmax is computed from x.detach(): right values, but no gradient ever reaches the scores."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    x = x.detach()
    row_max = x.amax(dim=dim, keepdim=True)
    row_max = torch.where(row_max == float("-inf"), torch.zeros_like(row_max), row_max)
    exps = torch.exp(x - row_max)
    totals = exps.sum(dim=dim, keepdim=True)
    return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
