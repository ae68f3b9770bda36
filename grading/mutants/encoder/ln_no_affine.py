"""LayerNorm normalises but forgets the learned scale and shift (weight and bias)."""

CAUGHT_BY = ["encoder.layer_norm"]


def forward(self, x):
    mean = x.mean(dim=-1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + self.eps)


LayerNorm.forward = forward
