"""perplexity forgets model.eval(): dropout stays on while measuring."""

CAUGHT_BY = ["training.perplexity"]


def perplexity(model, tokens, *, block_size, batch_size=16):
    n = len(tokens) - 1
    total = 0.0
    with torch.no_grad():
        for s in range(0, n, block_size):
            length = min(block_size, n - s)
            x, y = tokens[s: s + length][None].long(), tokens[s + 1: s + 1 + length][None].long()
            total += float(cross_entropy(model(x), y)) * length
    return math.exp(total / n)
