"""softmax exponentiates the raw scores: exp(1000) overflows to inf and the result is NaN."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    exps = torch.exp(x)
    totals = exps.sum(dim=dim, keepdim=True)
    return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
