"""Encoder forgets the final LayerNorm of a pre-norm stack."""

CAUGHT_BY = ["encoder.encoder_stack"]

_original_init = Encoder.__init__


def __init__(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.norm = None


Encoder.__init__ = __init__
