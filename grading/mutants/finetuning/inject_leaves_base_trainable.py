"""inject_lora wraps the projections but never freezes the model: embeddings, MLPs and norms still train."""

CAUGHT_BY = ["finetuning.inject_lora"]


def inject_lora(model, r=8, alpha=16.0, dropout=0.0, targets=LORA_TARGETS):
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(parent, child_name, LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
                replaced.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    return replaced
