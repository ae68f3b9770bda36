"""count_parameters reports every parameter as trainable, frozen or not."""

CAUGHT_BY = ["finetuning.count_parameters"]


def count_parameters(model):
    total = sum(p.numel() for p in model.parameters())
    return total, total
