"""clip_grad_norm rescales the gradients to norm max_norm even when they are smaller (no cap at 1)."""

CAUGHT_BY = ["training.clip_grad_norm"]


def clip_grad_norm(parameters, max_norm, *, eps=1e-6):
    grads = [p.grad for p in ([parameters] if isinstance(parameters, torch.Tensor) else parameters) if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    for g in grads:
        g.mul_(max_norm / (total + eps))
    return total
