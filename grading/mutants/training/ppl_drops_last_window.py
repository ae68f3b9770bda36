"""perplexity uses full windows only: the predictions of the shorter last window are left out."""

CAUGHT_BY = ["training.perplexity"]


def perplexity(model, tokens, *, block_size, batch_size=16):
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(tokens) - block_size, block_size):
            x, y = tokens[s: s + block_size][None].long(), tokens[s + 1: s + 1 + block_size][None].long()
            total += float(cross_entropy(model(x), y)) * y.numel()
            count += y.numel()
    model.train(was_training)
    return math.exp(total / count)
