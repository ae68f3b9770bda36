"""Encoder adds a final LayerNorm to a post-norm stack too (normalising twice at the end)."""

CAUGHT_BY = ["encoder.encoder_stack"]

_original_init = Encoder.__init__


def __init__(self, n_layers, d_model, *args, eps=1e-5, **kwargs):
    _original_init(self, n_layers, d_model, *args, eps=eps, **kwargs)
    self.norm = LayerNorm(d_model, eps)


Encoder.__init__ = __init__
