"""count_parameters sums over the state_dict: the tied embedding / LM head matrix counts twice (and buffers count)."""

CAUGHT_BY = ["finetuning.count_parameters"]


def count_parameters(model):
    total = sum(t.numel() for name, t in model.state_dict().items() if name != "position_scale")
    trainable = total - sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, total
