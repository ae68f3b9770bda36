"""decode returns str(bytes), i.e. "b'hello'", instead of decoding the bytes."""

CAUGHT_BY = ["tokenization.decode"]


def decode(ids, vocab, special_tokens=None):
    return str(b"".join(vocab[i] for i in ids))
