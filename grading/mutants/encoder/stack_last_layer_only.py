"""Encoder.forward feeds x to every layer but keeps only the last layer's output (x is not chained)."""

CAUGHT_BY = ["encoder.encoder_stack"]


def forward(self, x, padding_mask=None):
    out = x
    for layer in self.layers:
        out = layer(x, padding_mask)
    if self.norm is not None:
        out = self.norm(out)
    return out


Encoder.forward = forward
