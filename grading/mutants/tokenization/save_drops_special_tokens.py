"""Tokenizer.save forgets the special tokens, so a loaded tokenizer has none."""

CAUGHT_BY = ["tokenization.tokenizer"]


def _save(self, path):
    ordered = sorted(self.merges.items(), key=lambda item: item[1])
    data = {"format": self.FORMAT, "version": self.VERSION, "split_pattern": self.split_pattern,
            "special_tokens": {}, "merges": [list(p) for p, _ in ordered]}
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_json(data))  # noqa: F821


Tokenizer.save = _save  # noqa: F821
