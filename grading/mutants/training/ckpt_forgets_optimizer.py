"""save_checkpoint saves the model but not the optimizer: after a resume AdamW starts again from empty m and v."""

CAUGHT_BY = ["training.checkpoint"]


def save_checkpoint(path, model, optimizer, *, step, generator=None, extra=None):
    atomic_save({"model": model.state_dict(), "step": step, "rng": capture_rng_state(), "extra": extra,
                 "generator": None if generator is None else generator.get_state()}, path)


def load_checkpoint(path, model, optimizer=None, *, generator=None):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if generator is not None and checkpoint["generator"] is not None:
        generator.set_state(checkpoint["generator"])
    restore_rng_state(checkpoint["rng"])
    return {"step": checkpoint["step"], "extra": checkpoint["extra"]}
