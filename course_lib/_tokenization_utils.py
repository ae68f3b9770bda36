"""Plumbing for :mod:`course_lib.tokenization` that you do not write (notebook 01).

Three things live here so that ``tokenization.py`` shows mostly what you implement:

* the pre-split patterns of GPT-2 and GPT-4, translated for Python's standard ``re`` module;
* :func:`text_to_bytes` / :func:`bytes_to_text`, a str <-> bytes codec that works for *every*
  Python ``str`` (lone surrogates included) and never raises when decoding;
* :func:`format_json` (the tokenizer file's layout), :func:`check_special_tokens` (clear
  errors for special tokens that cannot work) and :func:`progress` (an optional progress bar).

Everything here is imported into ``course_lib.tokenization``, so ``from course_lib.tokenization
import text_to_bytes`` works as before.
"""

from __future__ import annotations

import codecs
import json
from typing import Iterable

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "GPT2_SPLIT_PATTERN_ORIGINAL",
    "GPT4_SPLIT_PATTERN_ORIGINAL",
    "text_to_bytes",
    "bytes_to_text",
    "format_json",
    "check_special_tokens",
    "progress",
]

# --------------------------------------------------------------------------
# Pre-split patterns
# --------------------------------------------------------------------------
# The patterns used by OpenAI's GPT-2 and GPT-4 (cl100k_base) tokenizers, as
# published with minbpe/tiktoken.  They need the third-party ``regex`` module
# (for \p{L} "any letter" and \p{N} "any number"), so they are kept here only
# for reference: ``re.compile`` cannot compile them.
GPT2_SPLIT_PATTERN_ORIGINAL = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
GPT4_SPLIT_PATTERN_ORIGINAL = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}"""
    r"""| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

# Standard-library translations (Python >= 3.11 ``re`` has possessive
# quantifiers such as ``?+`` and ``++``, but no \p{..} classes):
#
#   \p{L}                 -> [^\W\d_]      a "word" character that is neither a digit nor "_"
#   \p{N}                 -> \d            a decimal digit (any script)
#   [^\r\n\p{L}\p{N}]     -> (?:[^\r\n\w]|_)   "_" is \w in `re` but is not a letter/number
#   [^\s\p{L}\p{N}]       -> (?:[^\s\w]|_)
#
# How the result differs from GPT-4's pattern (only for rare characters):
#   * Numeric characters that are not decimal digits (superscripts "²", fractions
#     "½", Roman numerals "Ⅻ") count as *letters* here, as *numbers* in GPT-4.
#   * `re`'s \s follows str.isspace(), which also accepts the separators
#     U+001C..U+001F; the `regex` module's \s does not.
#   * Letters, CJK, combining marks, digits, punctuation, emoji and ordinary
#     whitespace are split exactly like GPT-4 (combining marks are neither letters
#     nor numbers in both).
# Every alternative of each pattern covers some character class, so the chunks
# always join back to the input: "".join(split_text(s, p)) == s for any str.
_LETTER = r"[^\W\d_]"
_NUMBER = r"\d"
_NOT_NEWLINE_LETTER_NUMBER = r"(?:[^\r\n\w]|_)"
_NOT_SPACE_LETTER_NUMBER = r"(?:[^\s\w]|_)"

GPT2_SPLIT_PATTERN = "|".join(
    [
        r"'(?:[sdmt]|ll|ve|re)",  # English contractions: 's 'd 'm 't 'll 've 're
        rf" ?{_LETTER}+",  # a word with its optional leading space
        rf" ?{_NUMBER}+",  # a number with its optional leading space
        rf" ?{_NOT_SPACE_LETTER_NUMBER}+",  # punctuation / symbols / emoji
        r"\s+(?!\S)",  # whitespace, leaving the last space for the next word
        r"\s+",  # any remaining whitespace
    ]
)

GPT4_SPLIT_PATTERN = "|".join(
    [
        r"'(?i:[sdmt]|ll|ve|re)",  # contractions, case-insensitive ('S, 'LL)
        rf"{_NOT_NEWLINE_LETTER_NUMBER}?+{_LETTER}+",  # a word with one leading non-letter (" the", "(foo")
        rf"{_NUMBER}{{1,3}}",  # numbers in groups of at most 3 digits
        rf" ?{_NOT_SPACE_LETTER_NUMBER}++[\r\n]*",  # punctuation/symbols (+ trailing newlines)
        r"\s*[\r\n]",  # whitespace that ends in a newline
        r"\s+(?!\S)",  # whitespace, leaving the last space for the next word
        r"\s+",  # any remaining whitespace
    ]
)

# --------------------------------------------------------------------------
# str <-> bytes, for every Python str
# --------------------------------------------------------------------------
# A Python ``str`` may contain lone surrogates such as "\ud800" (they appear
# e.g. after ``os.fsdecode`` or in a bad JSON file); strict UTF-8 refuses them.
# We encode with ``errors="surrogatepass"`` (a surrogate becomes its 3-byte
# ``ED xx xx`` form) and decode with a handler that turns exactly those 3-byte
# forms back into the surrogate and replaces any *other* invalid byte sequence
# with U+FFFD.
_DECODE_ERRORS = "course_lib.surrogatepass_or_replace"


def _surrogatepass_or_replace(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: undo ``surrogatepass`` where possible, else U+FFFD."""
    try:
        return codecs.lookup_error("surrogatepass")(error)
    except UnicodeError:
        return codecs.lookup_error("replace")(error)


codecs.register_error(_DECODE_ERRORS, _surrogatepass_or_replace)


def text_to_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates become their 3-byte form.

    Args:
        text: any Python ``str`` (lone surrogates such as ``"\\ud800"`` included).

    Returns:
        ``bytes``; identical to ``text.encode("utf-8")`` whenever that succeeds.
    """
    return text.encode("utf-8", errors="surrogatepass")


def bytes_to_text(data: bytes) -> str:
    """Inverse of :func:`text_to_bytes`, and never raises.

    Args:
        data: any bytes, e.g. the concatenated bytes of some tokens.

    Returns:
        ``str``.  Valid UTF-8 decodes normally, the 3-byte forms of surrogates
        come back as those surrogates, and every other invalid sequence (a
        character cut in half by a token boundary, say) becomes U+FFFD "�".
        So ``bytes_to_text(text_to_bytes(s)) == s`` for every ``str`` ``s``.
    """
    return data.decode("utf-8", errors=_DECODE_ERRORS)


# --------------------------------------------------------------------------
# The tokenizer file and special tokens
# --------------------------------------------------------------------------
def format_json(data: dict) -> str:
    """JSON text with one top-level key per line and one merge per line (easy to read and diff).

    Args:
        data: a dict of JSON values; its ``"merges"`` entry (if any) is a list of ``[left, right]``.

    Returns:
        the text to write, ending with a newline; ``json.loads`` of it gives ``data`` back.
    """
    lines = []
    for key, value in data.items():
        if key == "merges" and value:
            inner = ",\n".join("    " + json.dumps(merge) for merge in value)
            lines.append(f"  {json.dumps(key)}: [\n{inner}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def check_special_tokens(special_tokens: dict[str, int]) -> None:
    """Raise a clear ``ValueError`` for special tokens that cannot work.

    Args:
        special_tokens: special token text -> id.

    Raises:
        ValueError: for an empty or non-str name, an id that is not a non-negative int, or two
            special tokens with the same id.
    """
    for name, token_id in special_tokens.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"special token names must be non-empty strings, got {name!r}")
        if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
            raise ValueError(f"special token {name!r} needs a non-negative int id, got {token_id!r}")
    if len(set(special_tokens.values())) != len(special_tokens):
        raise ValueError(f"two special tokens share an id: {special_tokens}")


def progress(iterable: Iterable, verbose: bool, **tqdm_kwargs) -> Iterable:
    """Wrap ``iterable`` in a tqdm progress bar when ``verbose`` (and tqdm is installed)."""
    if not verbose:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return iterable
    return tqdm(iterable, **tqdm_kwargs)
