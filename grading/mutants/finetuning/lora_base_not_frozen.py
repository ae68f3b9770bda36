"""LoRALinear leaves the base weight and bias trainable: "LoRA" then trains everything."""

CAUGHT_BY = ["finetuning.lora_layer"]

_original_init = LoRALinear.__init__


def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
    _original_init(self, base, r, alpha, dropout)
    base.requires_grad_(True)


LoRALinear.__init__ = __init__
