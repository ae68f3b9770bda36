"""Encoder.forward does not pass the padding mask on to the layers: real tokens attend to padding."""

CAUGHT_BY = ["encoder.encoder_stack"]


def forward(self, x, padding_mask=None):
    for layer in self.layers:
        x = layer(x)
    if self.norm is not None:
        x = self.norm(x)
    return x


Encoder.forward = forward
