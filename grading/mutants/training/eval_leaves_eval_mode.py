"""evaluate switches to eval mode and never switches back: training continues without dropout."""

CAUGHT_BY = ["training.evaluate"]


def evaluate(model, data, *, batch_size, block_size, iters, generator=None):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for _ in range(iters):
            x, y = get_batch(data, batch_size, block_size, generator=generator, device=_model_device(model))
            total += float(cross_entropy(model(x), y))
    return total / iters
