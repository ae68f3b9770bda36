"""LoRALinear.unmerge adds the update a second time instead of subtracting it."""

CAUGHT_BY = ["finetuning.lora_merge"]


@torch.no_grad()
def unmerge(self):
    if not self.merged:
        return
    self.base.weight += self.scaling * (self.lora_B @ self.lora_A)
    self.merged = False


LoRALinear.unmerge = unmerge
