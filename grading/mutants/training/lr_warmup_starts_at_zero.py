"""lr_schedule warms up with max_lr * step / warmup_steps: step 0 has lr 0 (a wasted step)."""

CAUGHT_BY = ["training.lr_schedule"]


def lr_schedule(step, *, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
