"""encode never turns special-token text into its id, even with allowed_special='all'."""

CAUGHT_BY = ["tokenization.encode"]

_encode = encode  # noqa: F821 - defined by the module this mutant is run over


def encode(text, merges, *, split_pattern=GPT4_SPLIT_PATTERN, special_tokens=None,  # noqa: F821
           allowed_special="none_raise"):
    if allowed_special == "all":
        allowed_special = "none"
    return _encode(text, merges, split_pattern=split_pattern, special_tokens=special_tokens,
                   allowed_special=allowed_special)
