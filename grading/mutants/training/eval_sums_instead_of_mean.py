"""evaluate returns the sum of the batch losses instead of their mean."""

CAUGHT_BY = ["training.evaluate"]


def evaluate(model, data, *, batch_size, block_size, iters, generator=None):
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for _ in range(iters):
            x, y = get_batch(data, batch_size, block_size, generator=generator, device=_model_device(model))
            total += float(cross_entropy(model(x), y))
    model.train(was_training)
    return total
