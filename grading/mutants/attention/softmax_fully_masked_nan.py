"""softmax subtracts the maximum without a guard: a row that is entirely -inf becomes NaN."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    exps = torch.exp(x - x.amax(dim=dim, keepdim=True).detach())
    return exps / exps.sum(dim=dim, keepdim=True)
