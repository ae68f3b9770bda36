"""The checkpoint lacks PyTorch's global random state: after a resume, dropout draws other masks."""

CAUGHT_BY = ["training.checkpoint"]


def save_checkpoint(path, model, optimizer, *, step, generator=None, extra=None):
    atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "extra": extra,
                 "generator": None if generator is None else generator.get_state()}, path)


def load_checkpoint(path, model, optimizer=None, *, generator=None):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if generator is not None and checkpoint["generator"] is not None:
        generator.set_state(checkpoint["generator"])
    return {"step": checkpoint["step"], "extra": checkpoint["extra"]}
