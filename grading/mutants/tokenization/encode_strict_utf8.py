"""encode turns chunks into bytes with chunk.encode('utf-8') (strict), which raises on a lone surrogate."""

CAUGHT_BY = ["tokenization.encode"]


def encode(text, merges, *, split_pattern=GPT4_SPLIT_PATTERN, special_tokens=None,  # noqa: F821
           allowed_special="none_raise"):
    special_tokens = special_tokens or {}
    if allowed_special == "all" and special_tokens:
        parts = re.split("(" + "|".join(map(re.escape, sorted(special_tokens, key=len, reverse=True))) + ")", text)  # noqa: F821
    else:
        if allowed_special == "none_raise" and any(name in text for name in special_tokens):
            raise ValueError("special token in text")
        parts = [text]
    ids = []
    for i, part in enumerate(parts):
        if i % 2:
            ids.append(special_tokens[part])
            continue
        for chunk in split_text(part, split_pattern):  # noqa: F821
            ids.extend(encode_chunk(chunk.encode("utf-8"), merges))  # noqa: F821
    return ids
