"""perplexity averages the batches' mean losses, so the short last window weighs as much as a full batch."""

CAUGHT_BY = ["training.perplexity"]


def perplexity(model, tokens, *, block_size, batch_size=16):
    was_training = model.training
    model.eval()
    n = len(tokens) - 1
    full = [s for s in range(0, n, block_size) if s + block_size <= n]
    groups = [full[i: i + batch_size] for i in range(0, len(full), batch_size)]
    groups += [[s] for s in range(0, n, block_size) if s + block_size > n]
    means = []
    with torch.no_grad():
        for group in groups:
            length = min(block_size, n - group[0])
            x = torch.stack([tokens[s: s + length] for s in group]).long()
            y = torch.stack([tokens[s + 1: s + 1 + length] for s in group]).long()
            means.append(float(cross_entropy(model(x), y)))
    model.train(was_training)
    return math.exp(sum(means) / len(means))
