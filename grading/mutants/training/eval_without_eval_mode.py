"""evaluate never calls model.eval(): dropout stays on and the measured loss is noisy and too high."""

CAUGHT_BY = ["training.evaluate"]


def evaluate(model, data, *, batch_size, block_size, iters, generator=None):
    total = 0.0
    with torch.no_grad():
        for _ in range(iters):
            x, y = get_batch(data, batch_size, block_size, generator=generator, device=_model_device(model))
            total += float(cross_entropy(model(x), y))
    return total / iters
