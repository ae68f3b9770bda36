"""Tokenizer.load numbers the merges 0, 1, 2, ... instead of 256, 257, ..."""

CAUGHT_BY = ["tokenization.tokenizer"]


@classmethod
def _load(cls, path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)  # noqa: F821
    merges = {tuple(pair): i for i, pair in enumerate(data["merges"])}
    return cls(merges, split_pattern=data["split_pattern"], special_tokens=data["special_tokens"])


Tokenizer.load = _load  # noqa: F821
