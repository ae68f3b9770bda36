"""encode ignores the pre-split pattern and encodes the whole text as one chunk (merges cross words)."""

CAUGHT_BY = ["tokenization.encode"]

_encode = encode  # noqa: F821 - defined by the module this mutant is run over


def encode(text, merges, *, split_pattern=GPT4_SPLIT_PATTERN, special_tokens=None,  # noqa: F821
           allowed_special="none_raise"):
    return _encode(text, merges, split_pattern=None, special_tokens=special_tokens,
                   allowed_special=allowed_special)
