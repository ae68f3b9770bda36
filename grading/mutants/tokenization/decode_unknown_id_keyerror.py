"""decode looks ids up with vocab[id], so an unknown id raises KeyError instead of a ValueError naming it."""

CAUGHT_BY = ["tokenization.decode"]


def decode(ids, vocab, special_tokens=None):
    names = {i: name for name, i in (special_tokens or {}).items()}
    return bytes_to_text(b"".join(  # noqa: F821
        text_to_bytes(names[i]) if i in names else vocab[i] for i in ids))  # noqa: F821
