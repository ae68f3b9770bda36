"""train_step never writes lr into the optimizer: the schedule has no effect."""

CAUGHT_BY = ["training.train_step"]


def train_step(model, optimizer, x, y, *, lr, grad_clip=1.0):
    loss = cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        clip_grad_norm(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
