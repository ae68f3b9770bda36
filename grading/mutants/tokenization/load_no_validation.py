"""Tokenizer.load returns a plain Tokenizer and accepts any JSON file without checking format and version."""

CAUGHT_BY = ["tokenization.tokenizer"]


@classmethod
def _load(cls, path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)  # noqa: F821
    merges = {tuple(pair): 256 + i for i, pair in enumerate(data["merges"])}
    return Tokenizer(merges, split_pattern=data["split_pattern"],  # noqa: F821
                     special_tokens=data["special_tokens"])


Tokenizer.load = _load  # noqa: F821
