"""Encoder keeps its layers in a Python list: PyTorch does not register them."""

CAUGHT_BY = ["encoder.encoder_stack"]

_original_init = Encoder.__init__


def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.0, *, norm_first=False, activation="relu",
             bias=True, eps=1e-5):
    _original_init(self, n_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first, activation=activation,
                   bias=bias, eps=eps)
    layers = list(self.layers)
    del self.layers
    self.layers = layers


Encoder.__init__ = __init__
