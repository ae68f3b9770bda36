"""save_checkpoint does not keep the batch generator's state: the resumed run trains on other batches."""

CAUGHT_BY = ["training.checkpoint"]


def save_checkpoint(path, model, optimizer, *, step, generator=None, extra=None):
    atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "rng": capture_rng_state(), "extra": extra}, path)


def load_checkpoint(path, model, optimizer=None, *, generator=None):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    restore_rng_state(checkpoint["rng"])
    return {"step": checkpoint["step"], "extra": checkpoint["extra"]}
