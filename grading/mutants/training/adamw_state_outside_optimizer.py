"""AdamW keeps m and v in its own dict instead of self.state: state_dict() saves nothing, a resumed run restarts Adam."""

CAUGHT_BY = ["training.adamw"]


@torch.no_grad()
def step(self, closure=None):
    memory = self.__dict__.setdefault("memory", {})
    for group in self.param_groups:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            t, m, v = memory.get(id(p), (0, torch.zeros_like(p), torch.zeros_like(p)))
            t += 1
            p.mul_(1 - lr * wd)
            m, v = b1 * m + (1 - b1) * p.grad, b2 * v + (1 - b2) * p.grad ** 2
            memory[id(p)] = (t, m, v)
            p.sub_(lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps))


AdamW.step = step
