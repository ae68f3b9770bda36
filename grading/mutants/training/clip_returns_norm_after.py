"""clip_grad_norm returns the norm after clipping (at most max_norm) instead of the one measured before."""

CAUGHT_BY = ["training.clip_grad_norm"]


def clip_grad_norm(parameters, max_norm, *, eps=1e-6):
    grads = [p.grad for p in ([parameters] if isinstance(parameters, torch.Tensor) else parameters) if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + eps), max=1.0))
    return torch.stack([g.norm() for g in grads]).norm()
