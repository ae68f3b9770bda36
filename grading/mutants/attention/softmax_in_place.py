"""softmax subtracts the maximum in place (x -= max), modifying the caller's tensor."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    row_max = x.amax(dim=dim, keepdim=True)
    row_max = torch.where(row_max == float("-inf"), torch.zeros_like(row_max), row_max).detach()
    x -= row_max
    exps = torch.exp(x)
    totals = exps.sum(dim=dim, keepdim=True)
    return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
