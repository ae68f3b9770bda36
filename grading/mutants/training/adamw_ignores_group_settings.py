"""AdamW reads lr and weight_decay from self.defaults, so parameter groups cannot have their own (nor the schedule change lr)."""

CAUGHT_BY = ["training.adamw"]


@torch.no_grad()
def step(self, closure=None):
    lr, (b1, b2), eps, wd = (self.defaults[k] for k in ("lr", "betas", "eps", "weight_decay"))
    for group in self.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            st = self.state[p]
            if not st:
                st.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            st["step"] += 1
            p.mul_(1 - lr * wd)
            st["exp_avg"].mul_(b1).add_(p.grad, alpha=1 - b1)
            st["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            m_hat = st["exp_avg"] / (1 - b1 ** st["step"])
            v_hat = st["exp_avg_sq"] / (1 - b2 ** st["step"])
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


AdamW.step = step
