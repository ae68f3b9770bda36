"""pad_collate pads on the left (as for batched generation) instead of the right."""

CAUGHT_BY = ["finetuning.pad_collate"]


def pad_collate(examples, pad_id):
    longest = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros(len(examples), longest, dtype=torch.bool)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, longest - n:] = torch.tensor(e["input_ids"])
        labels[row, longest - n:] = torch.tensor(e["labels"])
        mask[row, longest - n:] = True
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
