"""LayerNorm divides by std + eps instead of sqrt(var + eps)."""

CAUGHT_BY = ["encoder.layer_norm"]


def forward(self, x):
    mean = x.mean(dim=-1, keepdim=True)
    std = (x - mean).pow(2).mean(dim=-1, keepdim=True).sqrt()
    return (x - mean) / (std + self.eps) * self.weight + self.bias


LayerNorm.forward = forward
