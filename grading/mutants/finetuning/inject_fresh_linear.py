"""inject_lora wraps a NEW nn.Linear of the same size: the pretrained projection weights are thrown away."""

CAUGHT_BY = ["finetuning.inject_lora"]


def inject_lora(model, r=8, alpha=16.0, dropout=0.0, targets=LORA_TARGETS):
    model.requires_grad_(False)
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                fresh = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
                setattr(parent, child_name, LoRALinear(fresh, r=r, alpha=alpha, dropout=dropout))
                replaced.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    return replaced
