"""sft_step never resets the gradients: each step adds the new gradient to the old ones."""

CAUGHT_BY = ["finetuning.sft_step"]


def sft_step(model, batch, optimizer, *, max_grad_norm=1.0):
    device = next(model.parameters()).device
    model.train()
    loss = sft_loss(model(batch["input_ids"].to(device)), batch["labels"].to(device))
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_grad_norm)
    optimizer.step()
    return loss.item()
