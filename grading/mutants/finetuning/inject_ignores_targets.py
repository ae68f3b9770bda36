"""inject_lora wraps the four attention projections whatever `targets` says."""

CAUGHT_BY = ["finetuning.inject_lora"]

_original = inject_lora


def inject_lora(model, r=8, alpha=16.0, dropout=0.0, targets=LORA_TARGETS):
    return _original(model, r=r, alpha=alpha, dropout=dropout)
