"""softmax replaces -inf by -1e9 to avoid NaN: a fully masked row gets uniform weights, not zeros."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    x = x.masked_fill(x == float("-inf"), -1e9)
    exps = torch.exp(x - x.amax(dim=dim, keepdim=True).detach())
    return exps / exps.sum(dim=dim, keepdim=True)
