"""Encoder repeats ONE layer n times ([layer] * n): all layers share one set of weights."""

CAUGHT_BY = ["encoder.encoder_stack"]

_original_init = Encoder.__init__


def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.0, *, norm_first=False, activation="relu",
             bias=True, eps=1e-5):
    _original_init(self, n_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first, activation=activation,
                   bias=bias, eps=eps)
    self.layers = nn.ModuleList([self.layers[0]] * n_layers)


Encoder.__init__ = __init__
