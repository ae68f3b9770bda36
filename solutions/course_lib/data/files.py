"""Bring your own text: read any UTF-8 file, or (optionally) download TinyShakespeare.

Nothing in the course needs the network. The downloader exists for learners who want a "real"
text; it verifies a SHA-256 checksum, caches the file, and when there is no network it says so
plainly and tells you what to use instead.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._util import atomic_write_bytes
from .stories import cache_dir as _default_cache_dir

# Karpathy's char-rnn TinyShakespeare (1,115,394 bytes), pinned to a commit so the bytes, and
# therefore the checksum, cannot change under us.
TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/"
    "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


class NotUTF8Error(ValueError):
    """The file is not valid UTF-8 text."""


class DownloadError(RuntimeError):
    """A download did not give the expected file."""


class OfflineError(DownloadError):
    """The network cannot be reached (or COURSE_OFFLINE is set)."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256 checksum."""


def read_text_file(path) -> str:
    """Read a UTF-8 text file (a leading byte-order mark is dropped; line endings become "\\n").

    Raises FileNotFoundError, IsADirectoryError or NotUTF8Error (a ValueError) with a message
    that says what to do.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p} (check the path; relative paths start in {Path.cwd()})")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder, not a text file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotUTF8Error(
            f"{p} is not UTF-8 text: byte 0x{raw[err.start]:02x} at position {err.start} cannot be "
            "decoded. Save the file as UTF-8 (most editors have an 'encoding' option), or convert "
            "it, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sha256_of(path) -> str:
    """The SHA-256 checksum of a file, as 64 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, timeout: float) -> bytes:
    """Download `url` and return its bytes (replaced by a fake in the tests)."""
    import urllib.request  # imported here: importing course_lib.data stays fast

    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _offline_message(url: str, reason: object) -> str:
    return (
        f"Could not download {url}: you seem to be offline ({reason}).\n"
        "Nothing in the course needs the network: use the built-in story corpus, "
        "`course_lib.data.corpus()`, or a text file you already have, "
        "`course_lib.data.read_text_file(path)`. If you have TinyShakespeare's input.txt, put it "
        "at the cache path below and call this function again:\n"
    )


def download_tinyshakespeare(cache_dir: str | os.PathLike | None = None, url: str = TINYSHAKESPEARE_URL,
                             sha256: str = TINYSHAKESPEARE_SHA256, timeout: float = 30.0) -> Path:
    """Download TinyShakespeare (about 1 MB) once, verify its SHA-256, and return the cached path.

    If the file is already cached with the right checksum, the network is not used. Raises
    OfflineError (a RuntimeError) with advice when there is no network or COURSE_OFFLINE=1 is
    set, ChecksumMismatchError if the bytes are not the expected ones (nothing is cached then),
    and DownloadError for other download failures (for example HTTP 404).
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = folder / f"tinyshakespeare-{sha256[:12]}.txt"
    if target.exists() and sha256_of(target) == sha256:
        return target
    if os.environ.get("COURSE_OFFLINE", "").strip() not in ("", "0"):
        raise OfflineError(_offline_message(url, "COURSE_OFFLINE is set") + f"  {target}")
    import urllib.error

    try:
        payload = _fetch(url, timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"Could not download {url}: the server answered {err.code} {err.reason}.") from err
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise OfflineError(_offline_message(url, reason) + f"  {target}") from err
    got = hashlib.sha256(payload).hexdigest()
    if got != sha256:
        raise ChecksumMismatchError(
            f"The file downloaded from {url} has SHA-256 {got}, expected {sha256}. It may be "
            "damaged or changed upstream; it was not saved. Try again, or use a local copy with "
            "`course_lib.data.read_text_file(path)`."
        )
    atomic_write_bytes(target, payload)
    return target
