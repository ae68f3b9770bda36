"""decode uses bytes.decode('utf-8') with errors='strict', which raises on half a character."""

CAUGHT_BY = ["tokenization.decode"]


def decode(ids, vocab, special_tokens=None):
    names = {i: name for name, i in (special_tokens or {}).items()}
    data = b"".join(vocab[i] if i in vocab else names[i].encode("utf-8") for i in ids)
    return data.decode("utf-8")
