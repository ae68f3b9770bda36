"""LayerNorm uses torch.var's default, the unbiased variance (dividing by d - 1 instead of d)."""

CAUGHT_BY = ["encoder.layer_norm"]


def forward(self, x):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


LayerNorm.forward = forward
