"""pad_collate pads the labels with pad_id instead of -100: the model is trained to predict padding."""

CAUGHT_BY = ["finetuning.pad_collate"]


def pad_collate(examples, pad_id):
    longest = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    mask = torch.zeros(len(examples), longest, dtype=torch.bool)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e["labels"])
        mask[row, :n] = True
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
