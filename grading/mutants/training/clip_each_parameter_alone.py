"""clip_grad_norm clips each parameter's gradient to max_norm on its own, which changes the update's direction."""

CAUGHT_BY = ["training.clip_grad_norm"]


def clip_grad_norm(parameters, max_norm, *, eps=1e-6):
    grads = [p.grad for p in ([parameters] if isinstance(parameters, torch.Tensor) else parameters) if p.grad is not None]
    norms = [g.norm() for g in grads]
    for g, n in zip(grads, norms):
        g.mul_(torch.clamp(max_norm / (n + eps), max=1.0))
    return torch.stack(norms).norm() if norms else torch.tensor(0.0)
