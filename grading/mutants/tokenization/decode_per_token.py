"""decode decodes each token on its own and joins the strings, so a character split over tokens becomes '���'."""

CAUGHT_BY = ["tokenization.decode"]


def decode(ids, vocab, special_tokens=None):
    names = {i: name for name, i in (special_tokens or {}).items()}
    return "".join(names[i] if i in names else bytes_to_text(vocab[i]) for i in ids)  # noqa: F821
