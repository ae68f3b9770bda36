"""Byte-level BPE (byte-pair encoding) tokenizer, from scratch.  Notebook 01.

The idea in one paragraph
-------------------------
Text is turned into UTF-8 bytes, so every string is a sequence of integers in
``0..255`` and nothing is ever "out of vocabulary".  Training then repeats one
step: find the most frequent pair of neighbouring tokens and give it a new id
(256, 257, ...).  The ordered list of those *merges* is the tokenizer.  Encoding
replays the merges on new text in the order they were learned; decoding looks up
the bytes of each id and joins them.

Before counting, the text is cut into *chunks* by a regular expression (words
with their leading space, runs of digits, punctuation, whitespace), and merges
never cross a chunk boundary.  That keeps tokens like ``"dog."`` or ``"the cat"``
out of the vocabulary and lets training count each distinct chunk only once.

What learners implement (the marked regions; notebook 01, sections 1-6)
-----------------------------------------------------------------------
1. :func:`get_pair_counts`     counts of neighbouring pairs
2. :func:`merge_pair`          replace a pair by a new id
3. :func:`train_bpe`           the training loop, with :class:`IncrementalPairCounts`
4. :func:`encode_chunk`, :func:`encode`   text -> ids, special tokens
5. :func:`decode`              ids -> text
6. :meth:`Tokenizer.save`, :meth:`Tokenizer.load`   a versioned JSON file

Tie-break (training)
--------------------
At each step the merged pair is the one with the **highest count; among pairs
with that count, the smallest pair in Python tuple order** (smaller left id,
then smaller right id).  Exactly: ``min(counts, key=lambda p: (-counts[p], p))``,
equivalently "max over counts with key (count, then smallest pair first)".
This makes training deterministic and independent of dict/insertion order.

Strings that UTF-8 cannot encode (lone surrogates)
--------------------------------------------------
A Python ``str`` may contain lone surrogates such as ``"\\ud800"`` that strict
UTF-8 refuses.  :func:`text_to_bytes` and :func:`bytes_to_text` (provided, in
``course_lib/_tokenization_utils.py`` with the pre-split patterns and the JSON
layout of the tokenizer file) handle them, so ``decode(encode(s)) == s`` for
**every** ``str`` ``s``, and decoding an arbitrary id sequence (e.g. half of a
multi-byte character) never raises.
"""

from __future__ import annotations

import heapq
import json
import math
import operator
import os
import re
from collections import Counter
from typing import Iterable

from course_lib._tokenization_utils import (
    GPT2_SPLIT_PATTERN,
    GPT2_SPLIT_PATTERN_ORIGINAL,
    GPT4_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN_ORIGINAL,
    bytes_to_text,
    check_special_tokens,
    format_json,
    progress,
    text_to_bytes,
)

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN_ORIGINAL",
    "GPT2_SPLIT_PATTERN_ORIGINAL",
    "ALLOWED_SPECIAL_POLICIES",
    "text_to_bytes",
    "bytes_to_text",
    "split_text",
    "get_pair_counts",
    "merge_pair",
    "IncrementalPairCounts",
    "train_bpe",
    "build_vocab",
    "encode_chunk",
    "encode",
    "decode",
    "Tokenizer",
    "BPETokenizer",
]

Pair = tuple[int, int]
Merges = dict[Pair, int]  # (left id, right id) -> new id, in the order learned
Vocab = dict[int, bytes]  # id -> the bytes it stands for

# The policies for special-token text in `encode` (see its docstring).
ALLOWED_SPECIAL_POLICIES = ("none_raise", "all", "none")


# --------------------------------------------------------------------------
# Pre-split (the patterns are in _tokenization_utils.py)
# --------------------------------------------------------------------------
def split_text(text: str, split_pattern: str | None) -> list[str]:
    """Cut ``text`` into the chunks that BPE works on.

    Args:
        text: the text.
        split_pattern: a regular expression for ``re.findall`` (e.g.
            :data:`GPT4_SPLIT_PATTERN`), or ``None`` for no pre-splitting (the
            whole text is one chunk; merges may then cross word boundaries).

    Returns:
        list of non-empty ``str`` chunks; with the patterns of this module
        ``"".join(chunks) == text``.
    """
    if split_pattern is None:
        return [text] if text else []
    return re.findall(split_pattern, text)


# --------------------------------------------------------------------------
# §1-2: the two primitives
# --------------------------------------------------------------------------
def get_pair_counts(ids: list[int],
                    counts: dict[Pair, int] | None = None) -> dict[Pair, int]:
    """Count every pair of neighbouring ids.

    Args:
        ids: token ids, length n (any sequence that supports slicing).
        counts: optional dict to add into (it is updated in place and returned);
            lets you accumulate counts over many chunks.

    Returns:
        dict ``(ids[i], ids[i+1]) -> number of times it occurs``, over the
        n - 1 neighbouring positions (overlapping pairs count: ``[1, 1, 1]``
        holds ``(1, 1)`` twice).

    Example:
        >>> get_pair_counts([1, 2, 3, 1, 2])
        {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    # YOUR CODE HERE (notebook 01, §1)
    raise NotImplementedError('get_pair_counts() is not written yet (notebook 01, §1). Hint: Add 1 for every neighbouring pair of ids, overlapping pairs included, into the dict you were given (even an empty one) or into a fresh dict when there is none, and return that dict.')


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``.

    Occurrences are taken left to right and do not overlap, so
    ``merge_pair([7, 7, 7], (7, 7), 99) == [99, 7]``.

    Args:
        ids: token ids, length n (not modified).
        pair: ``(left, right)`` ids to replace.
        new_id: the id that replaces them.

    Returns:
        a new list of length n - (number of replacements).

    Example:
        >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 256)
        [256, 3, 256]
    """
    # YOUR CODE HERE (notebook 01, §2)
    raise NotImplementedError('merge_pair() is not written yet (notebook 01, §2). Hint: Build a new list walking left to right: where the pair starts, emit new_id and move past both ids; anywhere else copy the id. The input list stays unchanged.')


# --------------------------------------------------------------------------
# §3: training
# --------------------------------------------------------------------------
class IncrementalPairCounts:
    """Pair counts over a bag of chunks, kept up to date while merging.

    Re-counting every pair of the whole text after each merge costs
    O(text length) per merge.  But a merge only changes the chunks that contain
    the merged pair, so this class remembers *where* each pair occurs and, after
    a merge, subtracts the old pairs and adds the new pairs of just those chunks.
    A heap gives the most frequent pair without scanning all counts.

    Attributes:
        chunks: ``list[list[int]]``, the distinct chunks as token ids; rewritten
            in place by :meth:`merge`.
        freqs: ``list[int]``, ``freqs[k]`` = how many times chunk k occurs in the
            text (its multiplicity); every pair in it counts that many times.
        counts: ``dict[pair, int]``, the total count of each pair that occurs
            (pairs whose count drops to 0 are deleted).
        where: ``dict[pair, set[int]]``, the indices of the chunks containing
            each pair.
        heap: ``list[tuple[int, pair]]``, a min-heap of ``(-count, pair)``
            entries.  Entries are never updated in place: when a count changes
            a new entry is pushed, and entries whose count no longer matches
            ``counts`` are *stale* and skipped ("lazy deletion").  The order of
            ``(-count, pair)`` tuples *is* the tie-break: highest count first,
            then the smallest pair.
    """

    def __init__(self, chunks: list[list[int]], freqs: list[int]) -> None:
        """Build counts, the pair -> chunks index and the heap.

        Args:
            chunks: K lists of token ids (taken over, not copied).
            freqs: K positive multiplicities.
        """
        if len(chunks) != len(freqs):
            raise ValueError(
                f"chunks and freqs must have the same length, got {len(chunks)} and {len(freqs)}"
            )
        self.chunks = chunks
        self.freqs = freqs
        # YOUR CODE HERE (notebook 01, §3)
        raise NotImplementedError("IncrementalPairCounts.__init__() is not written yet (notebook 01, §3). Hint: Fill self.counts (every pair's occurrences, weighted by its chunk's frequency), self.where (pair -> indices of the chunks holding it) and self.heap (a heapified list of (-count, pair) entries).")

    def most_frequent(self) -> Pair | None:
        """The pair to merge next, or ``None`` if no pair is left.

        Returns:
            the pair with the highest count, ties broken by the smallest pair,
            i.e. ``min(self.counts, key=lambda p: (-self.counts[p], p))``.
            The heap is only cleaned of stale entries, the pair stays counted.
        """
        # YOUR CODE HERE (notebook 01, §3)
        raise NotImplementedError('IncrementalPairCounts.most_frequent() is not written yet (notebook 01, §3). Hint: Return the top pair of the heap whose count is still current, popping outdated (stale) entries on the way; None once the heap runs out.')

    def merge(self, pair: Pair, new_id: int) -> None:
        """Merge ``pair`` into ``new_id`` in every chunk that contains it.

        Updates ``chunks``, ``counts``, ``where`` and ``heap``, touching only
        the chunks listed in ``where[pair]``.  Afterwards ``pair`` has count 0.

        Args:
            pair: the pair to merge (normally :meth:`most_frequent`'s answer).
            new_id: its new id, not used by any chunk yet.
        """
        # YOUR CODE HERE (notebook 01, §3)
        raise NotImplementedError('IncrementalPairCounts.merge() is not written yet (notebook 01, §3). Hint: Rewrite only the chunks listed for this pair; for each one, take away the weighted counts of its old pairs and add those of its new pairs, keep where in step, and push fresh heap entries for counts that changed (deleting counts that reach 0).')


def train_bpe(text: str, vocab_size: int, *,
              split_pattern: str | None = GPT4_SPLIT_PATTERN,
              verbose: bool = False) -> tuple[Merges, Vocab]:
    """Learn ``vocab_size - 256`` BPE merges from ``text``.

    The text is cut into chunks with ``split_pattern`` (merges never cross a
    chunk boundary) and each *distinct* chunk is processed once, weighted by
    how often it occurs.  Pair counts are updated incrementally after each
    merge (see :class:`IncrementalPairCounts`), so training is fast: about a
    second or two for 1 MB of English and a 1,000-token vocabulary.

    Tie-break: each step merges the pair with the highest count and, among
    pairs with equal counts, the smallest pair in tuple order, i.e.
    ``min(counts, key=lambda p: (-counts[p], p))`` where ``counts`` are the
    pair counts of the current tokenization of all chunks.

    Training stops early (fewer merges, a smaller vocabulary) when every chunk
    has become a single token.  Special tokens are not handled here: the text
    is treated as ordinary text.

    Args:
        text: the training text.
        vocab_size: the number of ids wanted, >= 256 (256 byte ids + merges).
        split_pattern: regex for the pre-split (see :func:`split_text`), or
            ``None`` to train on the whole text as one chunk (slow for long texts).
        verbose: show a progress bar (wrap the loop of merges in
            ``progress(iterable, verbose)``, provided).

    Returns:
        ``(merges, vocab)``:
        merges: ``dict[(int, int), int]``, pair -> new id, in the order learned;
        the new ids are 256, 257, ... with no gaps.
        vocab: ``dict[int, bytes]``, id -> bytes, for 0..255 and every new id.

    Raises:
        TypeError: if ``text`` is not a str or ``vocab_size`` not an int.
        ValueError: if ``vocab_size < 256``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    if vocab_size < 256:
        raise ValueError(
            f"vocab_size must be at least 256 (one id for each possible byte), got {vocab_size}"
        )
    # YOUR CODE HERE (notebook 01, §3)
    raise NotImplementedError('train_bpe() is not written yet (notebook 01, §3). Hint: Count each distinct chunk once with its multiplicity, build IncrementalPairCounts over their UTF-8 bytes, then repeatedly merge the most frequent pair under the next new id (stop early when none is left), recording merges and vocab.')


def build_vocab(merges: Merges) -> Vocab:
    """The vocabulary (id -> bytes) that a list of merges defines.

    Args:
        merges: pair -> new id; the new ids must be 256, 257, ... without gaps,
            and each pair may only use ids that exist before it.

    Returns:
        ``dict[int, bytes]`` for ids 0..255 + len(merges) - 1.

    Raises:
        ValueError: if the merges are not of that form.
    """
    vocab: Vocab = {i: bytes([i]) for i in range(256)}
    for expected_id, (pair, new_id) in enumerate(
        sorted(merges.items(), key=lambda item: item[1]), start=256
    ):
        left, right = pair
        if new_id != expected_id:
            raise ValueError(f"merge ids must be 256, 257, ... without gaps; expected {expected_id}, got {new_id}")
        if left not in vocab or right not in vocab:
            raise ValueError(f"merge {pair} -> {new_id} uses an id that is not defined before it")
        vocab[new_id] = vocab[left] + vocab[right]
    return vocab


# --------------------------------------------------------------------------
# §4: encoding
# --------------------------------------------------------------------------
def encode_chunk(chunk: bytes, merges: Merges) -> list[int]:
    """Encode the bytes of one chunk by replaying the merges.

    Repeatedly applies, among the neighbouring pairs present, the merge that
    was learned first (the one with the smallest new id), until no pair of
    the chunk is in ``merges``.  This reproduces what training did.

    Args:
        chunk: the bytes of one chunk.
        merges: pair -> new id, as returned by :func:`train_bpe`.

    Returns:
        list of token ids, length between 1 and ``len(chunk)`` (empty for b"").

    Example:
        >>> encode_chunk(b"aaab", {(97, 97): 256, (256, 97): 257})
        [257, 98]
    """
    # YOUR CODE HERE (notebook 01, §4)
    raise NotImplementedError("encode_chunk() is not written yet (notebook 01, §4). Hint: Start from the chunk's byte values and keep applying, among the neighbouring pairs, the known merge learned first (smallest new id), until no neighbouring pair is a known merge.")


def encode(text: str, merges: Merges, *,
           split_pattern: str | None = GPT4_SPLIT_PATTERN,
           special_tokens: dict[str, int] | None = None,
           allowed_special: str = "none_raise") -> list[int]:
    """Encode ``text`` into token ids.

    Special tokens (``special_tokens``, e.g. ``{"<|endoftext|>": 1000}``) are
    handled first, according to ``allowed_special``:

    * ``"all"``: every occurrence of a special token's text becomes its id (the
      longest name wins where two overlap); the text between them is encoded
      normally, chunk by chunk.
    * ``"none"``: special-token text gets no special treatment; it is encoded
      as ordinary text (so a user typing "<|endoftext|>" cannot inject the id).
    * ``"none_raise"`` (default): like ``"none"``, but raise ``ValueError`` if
      the text contains a special token's text: a safe default that makes you
      choose.  Without special tokens the three policies are the same.

    Ordinary text is split with ``split_pattern`` and each chunk's bytes
    (:func:`text_to_bytes`) are encoded by :func:`encode_chunk`.

    Args:
        text: any ``str``.
        merges: pair -> new id, as returned by :func:`train_bpe`.
        split_pattern: the pre-split regex used in training (or ``None``).
        special_tokens: special token text -> id, or ``None``.
        allowed_special: ``"none_raise"``, ``"all"`` or ``"none"``.

    Returns:
        list of token ids; ``decode(encode(s, ...), ...) == s`` for every str.

    Raises:
        ValueError: for an unknown ``allowed_special``, invalid special tokens,
            or (``"none_raise"``) special-token text in ``text``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if allowed_special not in ALLOWED_SPECIAL_POLICIES:
        raise ValueError(
            f"allowed_special must be one of {ALLOWED_SPECIAL_POLICIES}, got {allowed_special!r}"
        )
    special_tokens = special_tokens or {}
    check_special_tokens(special_tokens)
    # YOUR CODE HERE (notebook 01, §4)
    raise NotImplementedError("encode() is not written yet (notebook 01, §4). Hint: First cut out special tokens as allowed_special says ('all': their ids, longest name first; 'none_raise': refuse them), then encode every split_text chunk of the remaining text with encode_chunk on its bytes.")


# --------------------------------------------------------------------------
# §5: decoding
# --------------------------------------------------------------------------
def decode(ids: Iterable[int], vocab: Vocab,
           special_tokens: dict[str, int] | None = None) -> str:
    """Turn token ids back into text.

    Args:
        ids: token ids (ints; numpy ints or 0-d integer tensors also work).
        vocab: id -> bytes, as returned by :func:`train_bpe`.
        special_tokens: special token text -> id, or ``None``.

    Returns:
        the text: the tokens' bytes joined and decoded by :func:`bytes_to_text`,
        so byte sequences that are not valid UTF-8 (e.g. a lone token holding
        half of "é") come out as "�" instead of raising.

    Raises:
        ValueError: for an id that is neither in ``vocab`` nor a special token.
        TypeError: for an id that is not an integer.
    """
    # YOUR CODE HERE (notebook 01, §5)
    raise NotImplementedError("decode() is not written yet (notebook 01, §5). Hint: Join the bytes of all tokens first (a special id stands for its name's bytes) and decode them once with bytes_to_text; an id that is neither in vocab nor special is a ValueError.")


# --------------------------------------------------------------------------
# §6: the tokenizer object
# --------------------------------------------------------------------------
class Tokenizer:
    """A byte-level BPE tokenizer: merges + pre-split pattern + special tokens.

    This base class can encode, decode, save and load; :class:`BPETokenizer`
    adds training.

    Attributes:
        merges: ``dict[(int, int), int]``, pair -> new id (256, 257, ...).
        vocab: ``dict[int, bytes]``, id -> bytes, derived from ``merges``.
        split_pattern: ``str | None``, the pre-split regex.
        special_tokens: ``dict[str, int]``, special token text -> id.
    """

    FORMAT = "course_lib.bpe_tokenizer"
    VERSION = 1

    def __init__(self, merges: Merges | None = None, *,
                 split_pattern: str | None = GPT4_SPLIT_PATTERN,
                 special_tokens: dict[str, int] | None = None) -> None:
        """Args:
            merges: pair -> new id (default: none, i.e. a plain byte tokenizer).
            split_pattern: the pre-split regex, or ``None`` for no pre-split.
            special_tokens: special token text -> id (see
                :meth:`register_special_tokens`).
        """
        if split_pattern is not None:
            re.compile(split_pattern)  # fail now, not at the first encode
        self.split_pattern = split_pattern
        self.merges: Merges = dict(merges or {})
        self.vocab: Vocab = build_vocab(self.merges)
        self.special_tokens: dict[str, int] = {}
        if special_tokens:
            self.register_special_tokens(special_tokens)

    # -- special tokens ----------------------------------------------------
    def register_special_tokens(self, special_tokens: dict[str, int]) -> None:
        """Add special tokens, e.g. ``{"<|endoftext|>": tok.vocab_size}``.

        Args:
            special_tokens: text -> id.  Ids must not be used by the byte/merge
                vocabulary or by another special token; the usual choice is
                ``vocab_size``, ``vocab_size + 1``, ...

        Raises:
            ValueError: for an empty name, a bad id, or an id collision.
        """
        check_special_tokens(special_tokens)
        combined = dict(self.special_tokens)
        for name, token_id in special_tokens.items():
            if token_id in self.vocab:
                raise ValueError(
                    f"special token {name!r}: id {token_id} is already a byte/merge token; "
                    f"use an id >= {len(self.vocab)}"
                )
            combined[name] = token_id
        check_special_tokens(combined)  # no two specials with the same id
        self.special_tokens = combined

    # -- sizes and inspection ------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids an embedding table needs: 1 + the largest id in use."""
        return max([len(self.vocab) - 1, *self.special_tokens.values()]) + 1

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes that id ``token_id`` stands for (a special token's UTF-8 text)."""
        token_id = operator.index(token_id)
        if token_id in self.vocab:
            return self.vocab[token_id]
        for name, special_id in self.special_tokens.items():
            if special_id == token_id:
                return text_to_bytes(name)
        raise ValueError(f"unknown token id {token_id} (vocab_size is {self.vocab_size})")

    def pieces(self, text: str, allowed_special: str = "all") -> list[tuple[int, str]]:
        """Encode ``text`` and show each token: for the notebook's playground.

        Args:
            text: the text.
            allowed_special: policy for special-token text (see :func:`encode`);
                ``"all"`` by default so that typing "<|endoftext|>" shows it.

        Returns:
            list of ``(id, piece)``; ``piece`` is the token's text (a token
            holding part of a multi-byte character shows "�").
        """
        return [
            (token_id, bytes_to_text(self.token_bytes(token_id)))
            for token_id in self.encode(text, allowed_special=allowed_special)
        ]

    # -- encode / decode -----------------------------------------------------
    def encode(self, text: str, allowed_special: str = "none_raise") -> list[int]:
        """Text -> list of ids; see :func:`encode` for ``allowed_special``."""
        return encode(
            text,
            self.merges,
            split_pattern=self.split_pattern,
            special_tokens=self.special_tokens,
            allowed_special=allowed_special,
        )

    def decode(self, ids: Iterable[int]) -> str:
        """List of ids -> text; see :func:`decode`."""
        return decode(ids, self.vocab, self.special_tokens)

    # -- save / load -----------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer to a readable, versioned JSON file.

        The file holds ``format`` (:attr:`FORMAT`), ``version``
        (:attr:`VERSION`), ``split_pattern``, ``special_tokens`` and
        ``merges``: a list whose item i is ``[left_id, right_id]``, the pair
        that became id 256 + i.  Use :func:`format_json` for the text.

        Args:
            path: the file to write (UTF-8).
        """
        # YOUR CODE HERE (notebook 01, §6)
        raise NotImplementedError('Tokenizer.save() is not written yet (notebook 01, §6). Hint: Write format, version, split_pattern, special_tokens and the merges (as [left, right] lists ordered by new id) to the file as UTF-8 text made by format_json.')

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a file written by :meth:`save`.

        Args:
            path: the JSON file.

        Returns:
            a new tokenizer of this class that encodes exactly like the saved one.

        Raises:
            ValueError: if the file is not a tokenizer file of a known version.
        """
        # YOUR CODE HERE (notebook 01, §6)
        raise NotImplementedError('Tokenizer.load() is not written yet (notebook 01, §6). Hint: Read the JSON file, refuse another format or a newer version with ValueError, give the merges ids 256, 257, ... in file order, and build the result with cls.')

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={len(self.special_tokens)})"
        )


class BPETokenizer(Tokenizer):
    """A :class:`Tokenizer` that can also learn its merges from text.

    Example:
        >>> tok = BPETokenizer().train("low lower lowest " * 100, 260)
        >>> tok.decode(tok.encode("lowest")) == "lowest"
        True
    """

    def train(self, text: str, vocab_size: int, *, verbose: bool = False) -> "BPETokenizer":
        """Learn merges from ``text`` (replacing any previous ones).

        Args:
            text: the training text (special tokens in it are treated as text).
            vocab_size: 256 + number of merges wanted; special tokens are extra.
            verbose: show a progress bar.

        Returns:
            ``self``, so that ``BPETokenizer().train(text, 1000)`` works.

        Raises:
            ValueError: as :func:`train_bpe`, or if a registered special token's
                id would collide with a new merge id (register them after training).
        """
        merges, vocab = train_bpe(
            text, vocab_size, split_pattern=self.split_pattern, verbose=verbose
        )
        clashes = {name: i for name, i in self.special_tokens.items() if i in vocab}
        if clashes:
            raise ValueError(
                f"special tokens {clashes} use ids of the trained vocabulary (0..{len(vocab) - 1}); "
                "register special tokens after training"
            )
        self.merges, self.vocab = merges, vocab
        return self
