"""lr_schedule measures the cosine's progress as step / total_steps, ignoring that warmup used the first steps."""

CAUGHT_BY = ["training.lr_schedule"]


def lr_schedule(step, *, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = step / total_steps
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
