"""Tokenizer.save writes sorted(self.merges), i.e. in pair order, losing the order the merges were learned in."""

CAUGHT_BY = ["tokenization.tokenizer"]


def _save(self, path):
    data = {"format": self.FORMAT, "version": self.VERSION, "split_pattern": self.split_pattern,
            "special_tokens": self.special_tokens, "merges": [list(p) for p in sorted(self.merges)]}
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_json(data))  # noqa: F821


Tokenizer.save = _save  # noqa: F821
