"""LayerNorm takes its statistics over the batch (dim 0), as batch normalisation would."""

CAUGHT_BY = ["encoder.layer_norm"]


def forward(self, x):
    mean = x.mean(dim=0, keepdim=True)
    var = (x - mean).pow(2).mean(dim=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


LayerNorm.forward = forward
