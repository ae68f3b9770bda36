"""LoRALinear initialises B randomly (like A): the wrapped model no longer starts identical to the base."""

CAUGHT_BY = ["finetuning.lora_layer"]

_original_init = LoRALinear.__init__


def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
    _original_init(self, base, r, alpha, dropout)
    with torch.no_grad():
        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))


LoRALinear.__init__ = __init__
