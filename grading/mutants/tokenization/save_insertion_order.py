"""Tokenizer.save writes the merges in dict insertion order instead of sorting them by new id."""

CAUGHT_BY = ["tokenization.tokenizer"]


def _save(self, path):
    data = {"format": self.FORMAT, "version": self.VERSION, "split_pattern": self.split_pattern,
            "special_tokens": self.special_tokens, "merges": [list(p) for p in self.merges]}
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_json(data))  # noqa: F821


Tokenizer.save = _save  # noqa: F821
