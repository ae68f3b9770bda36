"""sft_step ignores max_grad_norm: the gradient is never clipped."""

CAUGHT_BY = ["finetuning.sft_step"]


def sft_step(model, batch, optimizer, *, max_grad_norm=1.0):
    device = next(model.parameters()).device
    model.train()
    loss = sft_loss(model(batch["input_ids"].to(device)), batch["labels"].to(device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
