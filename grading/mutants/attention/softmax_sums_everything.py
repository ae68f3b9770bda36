"""softmax divides by the sum of ALL the exponentials (no dim in the sum), not each slice's."""

CAUGHT_BY = ["attention.softmax"]


def softmax(x, dim=-1):
    row_max = x.amax(dim=dim, keepdim=True)
    row_max = torch.where(row_max == float("-inf"), torch.zeros_like(row_max), row_max).detach()
    exps = torch.exp(x - row_max)
    total = exps.sum()
    return exps / torch.where(total == 0, torch.ones_like(total), total)
