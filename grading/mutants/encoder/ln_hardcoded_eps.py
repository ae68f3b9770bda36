"""LayerNorm hard-codes eps = 1e-5 instead of using self.eps."""

CAUGHT_BY = ["encoder.layer_norm"]


def forward(self, x):
    mean = x.mean(dim=-1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias


LayerNorm.forward = forward
