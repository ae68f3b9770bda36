"""Small helpers shared by the generators: seeded random streams and English spelling rules."""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from pathlib import Path


def rng_for(seed: int, *labels: object) -> random.Random:
    """A random stream that depends only on `seed` and `labels` (never on Python's hash seed).

    Each part of the data set draws from its own stream ("world", "corpus/train", ...), so that
    changing one part (say, the number of QA templates) does not reshuffle the others.
    """
    key = "|".join([str(int(seed))] + [str(x) for x in labels])
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def stable_fraction(text: str) -> float:
    """A number in [0, 1) that depends only on `text`: used to put examples in a split by content,
    so that two identical examples always land in the same split."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def article(word: str) -> str:
    """ "a" or "an" for the word that follows (the course vocabulary has no exceptions)."""
    return "an" if word[0].lower() in "aeiou" else "a"


def a(phrase: str) -> str:
    """Prefix a noun phrase with the right indefinite article: a("orange kite") == "an orange kite"."""
    return f"{article(phrase)} {phrase}"


def cap(sentence: str) -> str:
    """Capitalise the first letter of a sentence."""
    return sentence[:1].upper() + sentence[1:]


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file,
    and an interrupted write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a cache may be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
