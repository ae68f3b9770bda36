"""lr_schedule's cosine goes from max_lr down to 0 and only then jumps to min_lr."""

CAUGHT_BY = ["training.lr_schedule"]


def lr_schedule(step, *, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return 0.5 * max_lr * (1 + math.cos(math.pi * progress))
