"""LoRALinear.merge adds B @ A to the weight, forgetting the scale: merged outputs differ from unmerged ones."""

CAUGHT_BY = ["finetuning.lora_merge"]


@torch.no_grad()
def merge(self):
    if self.merged:
        return
    self.base.weight += self.lora_B @ self.lora_A
    self.merged = True


LoRALinear.merge = merge
