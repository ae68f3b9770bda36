"""Public checks for notebook 01: the byte-level BPE tokenizer in ``course_lib.tokenization``.

One check per exercise section, each run with ``check("tokenization.<name>")``:

    tokenization.get_pair_counts   §1  counts of neighbouring pairs
    tokenization.merge_pair        §2  replace a pair by a new id
    tokenization.train_bpe         §3  IncrementalPairCounts and the training loop
    tokenization.encode            §4  encode_chunk and encode (pre-split, special tokens)
    tokenization.decode            §5  ids -> text, for every str
    tokenization.tokenizer         §6  Tokenizer.save / Tokenizer.load, special tokens

The expected answers come from small, slow, obviously-correct versions written below (a trainer
that recounts every pair after each merge, an encoder that replays the merges one by one in the
order they were learned), never from the reference solution.

One bug costs once: while a check runs, the functions of *earlier* sections that the exercise
calls are replaced by those simple versions (e.g. the `train_bpe` check gives your training loop
a correct `merge_pair`), so a mistake in `merge_pair` fails the `merge_pair` check only. Your
functions are put back when the check ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
from types import ModuleType

from .framework import CheckFailed, expect, expect_equal, expect_type, public_check

# A word-level pre-split pattern used by some checks (the default GPT-4 pattern is used too).
SIMPLE_PATTERN = r" ?[A-Za-z]+| ?[0-9]+| ?[^A-Za-z0-9\s]+|\s+"

# Texts every tokenizer must round-trip: ASCII, Chinese, emoji (including a ZWJ sequence and a
# flag), combining marks, other scripts, control characters and a lone surrogate.
TRICKY_TEXTS = [
    "",
    "hello world",
    "Hello, World! It's 2024... isn't it?\n\n  Tabs\tand  spaces ",
    "请介绍一下《孙子兵法》这本书",
    "emoji: 🙂👍🏽 👩‍👩‍👧 🇫🇷",
    "cafe\u0301 vs caf\u00e9, n\u0303, a\u0308\u0304",
    "Ελληνικά, русский, العربية, हिन्दी, 日本語のテキスト",
    "\x00\x01\x7f\r\n\u2028 end",
    "lone surrogate: \ud800 and \udfff here",
]


# ---------------------------------------------------------------------------------------------
# Simple, slow, obviously-correct versions (the oracles)
# ---------------------------------------------------------------------------------------------

def _utf8(text: str) -> bytes:
    """UTF-8 bytes; lone surrogates become their 3-byte form (as the module's text_to_bytes)."""
    return text.encode("utf-8", errors="surrogatepass")


def _pair_counts(ids, counts=None) -> dict:
    counts = {} if counts is None else counts
    for i in range(len(ids) - 1):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _merge(ids, pair, new_id) -> list:
    out, i = [], 0
    while i < len(ids):
        if tuple(ids[i:i + 2]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _chunks(text: str, pattern: str | None) -> list[str]:
    if pattern is None:
        return [text] if text else []
    return re.findall(pattern, text)


def _naive_train(text: str, vocab_size: int, pattern: str | None) -> dict:
    """Merges learned by recounting every pair of every chunk after each merge."""
    chunks = [list(_utf8(c)) for c in _chunks(text, pattern)]
    merges = {}
    for new_id in range(256, vocab_size):
        counts: dict = {}
        for chunk in chunks:
            _pair_counts(chunk, counts)
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))  # highest count, then smallest pair
        chunks = [_merge(chunk, pair, new_id) for chunk in chunks]
        merges[pair] = new_id
    return merges


def _by_rank(merges: dict) -> list:
    return sorted(merges.items(), key=lambda item: item[1])


def _naive_encode_chunk(data: bytes, merges: dict) -> list:
    """Replay every merge, in the order learned (smallest new id first)."""
    ids = list(data)
    for pair, new_id in _by_rank(merges):
        ids = _merge(ids, pair, new_id)
    return ids


def _naive_encode(text: str, merges: dict, pattern: str | None, special_tokens=None,
                  allowed_special: str = "none_raise") -> list:
    special_tokens = special_tokens or {}
    if allowed_special not in ("none_raise", "all", "none"):
        raise ValueError(f"unknown allowed_special {allowed_special!r}")
    if allowed_special == "none_raise" and any(name in text for name in special_tokens):
        raise ValueError("the text contains a special token")
    ids: list = []
    ordinary = ""
    i = 0
    names = sorted(special_tokens, key=len, reverse=True) if allowed_special == "all" else []
    while i < len(text):
        name = next((n for n in names if text.startswith(n, i)), None)
        if name is None:
            ordinary += text[i]
            i += 1
            continue
        for chunk in _chunks(ordinary, pattern):
            ids += _naive_encode_chunk(_utf8(chunk), merges)
        ordinary = ""
        ids.append(special_tokens[name])
        i += len(name)
    for chunk in _chunks(ordinary, pattern):
        ids += _naive_encode_chunk(_utf8(chunk), merges)
    return ids


def _vocab(merges: dict) -> dict:
    vocab = {i: bytes([i]) for i in range(256)}
    for (left, right), new_id in _by_rank(merges):
        vocab[new_id] = vocab[left] + vocab[right]
    return vocab


def _to_text(data: bytes) -> str:
    """Decode like the module's bytes_to_text: undo surrogatepass, replace anything else."""
    out, i = [], 0
    while i < len(data):
        try:
            out.append(data[i:].decode("utf-8", errors="surrogatepass"))
            break
        except UnicodeDecodeError as err:
            out.append(data[i:i + err.start].decode("utf-8", errors="surrogatepass"))
            out.append("\ufffd")
            i += err.end
    return "".join(out)


def _naive_decode(ids, vocab: dict, special_tokens=None) -> str:
    names = {v: k for k, v in (special_tokens or {}).items()}
    return _to_text(b"".join(vocab[i] if i in vocab else _utf8(names[i]) for i in ids))


def _make_merges(words: list[str], merges: dict | None = None) -> dict:
    """Hand-made merges (no training): for each word, merge its tokens left to right until the
    word is a single token. The new ids are 256, 257, ... in the order created."""
    merges = dict(merges or {})
    for word in words:
        ids = _naive_encode_chunk(_utf8(word), merges)
        while len(ids) > 1:
            pair = (ids[0], ids[1])
            if pair not in merges:
                merges[pair] = 256 + len(merges)
            ids = _merge(ids, pair, merges[pair])
    return merges


# Hand-made merges used by the encode/decode/tokenizer checks: English pieces, Chinese
# characters (3 bytes each) and an emoji (4 bytes).
HAND_WORDS = ["th", "the", " the", "in", "ing", " t", "er", " a", "an", " and", "ll", "he",
              "hell", "hello", " wor", "ld", " world", "请", "一下", "书", "🙂", "aa", "aaaa"]


@contextlib.contextmanager
def _held_fixed(impl: ModuleType, **replacements):
    """Temporarily replace functions of earlier sections in the module under test by the simple
    versions above, so that a bug there is charged to its own check only."""
    missing = object()
    saved = {name: getattr(impl, name, missing) for name in replacements}
    try:
        for name, function in replacements.items():
            setattr(impl, name, function)
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                with contextlib.suppress(AttributeError):
                    delattr(impl, name)
            else:
                setattr(impl, name, value)


def _call(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expect_raises(error: type, function, what: str, why: str) -> None:
    try:
        function()
    except NotImplementedError:
        raise
    except error:
        return
    except Exception as err:  # noqa: BLE001 - the wrong exception is a finding too
        raise CheckFailed(f"{what} raised {type(err).__name__}: {err}; expected {error.__name__} ({why})") from None
    raise CheckFailed(f"{what} did not raise {error.__name__} ({why})")


# ---------------------------------------------------------------------------------------------
# §1 get_pair_counts
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.get_pair_counts")
def check_get_pair_counts(impl: ModuleType) -> None:
    """get_pair_counts counts every pair of neighbours, overlapping pairs and the last pair included."""
    got = impl.get_pair_counts([1, 2, 3, 1, 2])
    expect_type(got, dict, "get_pair_counts([1, 2, 3, 1, 2])")
    expect_equal(dict(got), {(1, 2): 2, (2, 3): 1, (3, 1): 1}, "get_pair_counts([1, 2, 3, 1, 2])")
    got = dict(impl.get_pair_counts([5, 6, 7, 8]))
    expect((7, 8) in got, f"get_pair_counts([5, 6, 7, 8]) returned {got}: the last pair (7, 8) is "
           "missing. A list of n ids has n - 1 neighbouring pairs: (ids[i], ids[i + 1]) for i < n - 1.")
    expect_equal(got, {(5, 6): 1, (6, 7): 1, (7, 8): 1}, "get_pair_counts([5, 6, 7, 8])")
    expect_equal(dict(impl.get_pair_counts([1, 1, 1])), {(1, 1): 2},
                 "get_pair_counts([1, 1, 1]) (pairs overlap: positions 0-1 and 1-2)")
    expect_equal(dict(impl.get_pair_counts([])), {}, "get_pair_counts([])")
    expect_equal(dict(impl.get_pair_counts([42])), {}, "get_pair_counts([42])")
    ids = list(b"hello")
    expect_equal(dict(impl.get_pair_counts(ids)), _pair_counts(ids), "get_pair_counts(list(b'hello'))")
    expect(ids == list(b"hello"), f"get_pair_counts changed the list it was given: it is now {ids}")

    # The optional `counts` argument: add into it, in place, and return it.
    counts = {(1, 2): 5}
    got = impl.get_pair_counts([1, 2, 9], counts)
    expect(got is counts, "get_pair_counts([1, 2, 9], counts) must update the dict `counts` in place "
           "and return that same dict (so that counts can be accumulated over many chunks)")
    expect_equal(counts, {(1, 2): 6, (2, 9): 1},
                 "get_pair_counts([1, 2, 9], counts={(1, 2): 5}) left counts as")

    rng = random.Random(1)
    for _ in range(20):
        ids = [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        expect_equal(dict(impl.get_pair_counts(ids)), _pair_counts(ids), f"get_pair_counts({ids})")


# ---------------------------------------------------------------------------------------------
# §2 merge_pair
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.merge_pair")
def check_merge_pair(impl: ModuleType) -> None:
    """merge_pair replaces each occurrence left to right, without overlaps, and keeps the rest."""
    ids = [1, 2, 3, 1, 2]
    got = impl.merge_pair(ids, (1, 2), 256)
    expect_type(got, list, "merge_pair([1, 2, 3, 1, 2], (1, 2), 256)")
    expect(ids == [1, 2, 3, 1, 2], f"merge_pair changed the list it was given: ids is now {ids}, "
           "it should still be [1, 2, 3, 1, 2]. Build and return a new list.")
    expect_equal(got, [256, 3, 256], "merge_pair([1, 2, 3, 1, 2], (1, 2), 256) (each (1, 2) becomes "
                 "256, and the walk then continues after both ids)")
    expect_equal(impl.merge_pair([1, 2, 3], (2, 4), 256), [1, 2, 3],
                 "merge_pair([1, 2, 3], (2, 4), 256) (nothing to merge; the last id must be kept too)")
    expect_equal(impl.merge_pair([3, 1, 2], (1, 2), 256), [3, 256],
                 "merge_pair([3, 1, 2], (1, 2), 256) (a pair at the very end)")
    expect_equal(impl.merge_pair([7, 7, 7], (7, 7), 99), [99, 7],
                 "merge_pair([7, 7, 7], (7, 7), 99) (after a merge, skip both ids: occurrences "
                 "do not overlap)")
    expect_equal(impl.merge_pair([7, 7, 7, 7], (7, 7), 99), [99, 99], "merge_pair([7, 7, 7, 7], (7, 7), 99)")
    expect_equal(impl.merge_pair([2, 1], (1, 2), 256), [2, 1], "merge_pair([2, 1], (1, 2), 256) (order matters)")
    expect_equal(impl.merge_pair([], (1, 2), 256), [], "merge_pair([], (1, 2), 256)")
    expect_equal(impl.merge_pair([1], (1, 2), 256), [1], "merge_pair([1], (1, 2), 256)")

    rng = random.Random(2)
    for _ in range(30):
        ids = [rng.randrange(3) for _ in range(rng.randrange(0, 25))]
        pair = (rng.randrange(3), rng.randrange(3))
        expect_equal(impl.merge_pair(list(ids), pair, 300), _merge(ids, pair, 300),
                     f"merge_pair({ids}, {pair}, 300)")


# ---------------------------------------------------------------------------------------------
# §3 IncrementalPairCounts and train_bpe
# ---------------------------------------------------------------------------------------------

def _weighted_counts(chunks, freqs) -> dict:
    counts: dict = {}
    for chunk, freq in zip(chunks, freqs):
        for pair, n in _pair_counts(chunk).items():
            counts[pair] = counts.get(pair, 0) + n * freq
    return counts


def _check_stats(stats, chunks, freqs, what: str) -> None:
    expect_equal([list(c) for c in stats.chunks], chunks, f"{what}: stats.chunks")
    expected = _weighted_counts(chunks, freqs)
    got = dict(stats.counts)
    if got != expected:
        zero = sorted(p for p, c in got.items() if c == 0)
        extra = f" (pairs whose count drops to 0 must be deleted: {zero})" if zero else ""
        raise CheckFailed(f"{what}: stats.counts is {got}, expected {expected} "
                          f"(each pair counted freqs[k] times per occurrence in chunk k){extra}")
    for pair in expected:
        holders = {k for k, chunk in enumerate(chunks) if pair in _pair_counts(chunk)}
        got_where = set(stats.where.get(pair, ()))
        expect(got_where == holders, f"{what}: stats.where[{pair}] is {got_where}, expected the "
               f"indices of the chunks containing {pair}: {holders}")


def _check_incremental(impl: ModuleType) -> None:
    chunks, freqs = [[1, 2, 3], [1, 2], [3, 3, 3, 3]], [3, 1, 2]
    stats = impl.IncrementalPairCounts([list(c) for c in chunks], list(freqs))
    what = "IncrementalPairCounts([[1, 2, 3], [1, 2], [3, 3, 3, 3]], freqs=[3, 1, 2])"
    _check_stats(stats, chunks, freqs, what)
    # counts: (1, 2): 4, (2, 3): 3, (3, 3): 6
    expect_equal(stats.most_frequent(), (3, 3), f"{what}.most_frequent()")
    stats.merge((3, 3), 256)
    chunks = [[1, 2, 3], [1, 2], [256, 256]]
    _check_stats(stats, chunks, freqs, f"{what}, then .merge((3, 3), 256)")
    # counts: (1, 2): 4, (2, 3): 3, (256, 256): 2
    expect_equal(stats.most_frequent(), (1, 2), f"{what}, after merging (3, 3): .most_frequent()")
    stats.merge((1, 2), 257)
    chunks = [[257, 3], [257], [256, 256]]
    _check_stats(stats, chunks, freqs, f"{what}, then merging (3, 3) and (1, 2)")
    expect_equal(stats.most_frequent(), (257, 3), f"{what}, then merging (3, 3) and (1, 2): "
                 ".most_frequent() (counts tie at 3 and 2)")
    stats.merge((257, 3), 258)
    stats.merge((256, 256), 259)
    _check_stats(stats, [[258], [257], [259]], freqs, f"{what}, after every possible merge")
    expect_equal(stats.most_frequent(), None, f"{what}, after every possible merge: .most_frequent() "
                 "(no pair is left)")

    # A count that drops but stays above 0: the heap's old entry for it is stale.
    chunks, freqs = [[1, 2, 3], [1, 2], [2, 3], [5, 6]], [3, 2, 1, 2]
    stats = impl.IncrementalPairCounts([list(c) for c in chunks], list(freqs))
    what = "IncrementalPairCounts([[1, 2, 3], [1, 2], [2, 3], [5, 6]], freqs=[3, 2, 1, 2])"
    expect_equal(stats.most_frequent(), (1, 2), f"{what}.most_frequent()")
    stats.merge((1, 2), 256)
    _check_stats(stats, [[256, 3], [256], [2, 3], [5, 6]], freqs, f"{what}, then .merge((1, 2), 256)")
    expect_equal(stats.most_frequent(), (256, 3), f"{what}, then .merge((1, 2), 256): .most_frequent() "
                 "(counts are now (256, 3): 3, (5, 6): 2, (2, 3): 1; the heap still holds the old entry "
                 "(-4, (2, 3)), which is stale because counts[(2, 3)] is no longer 4)")

    # Ties: equal counts -> the smallest pair in tuple order.
    stats = impl.IncrementalPairCounts([[9, 8], [5, 7], [5, 6]], [2, 2, 2])
    expect_equal(stats.most_frequent(), (5, 6), "IncrementalPairCounts([[9, 8], [5, 7], [5, 6]], "
                 "[2, 2, 2]).most_frequent() (all counts tie at 2: take the smallest pair)")

    # Merges that change the counts of overlapping pairs ("aaaaa"), several times.
    chunks = [list(b"aaaaa"), list(b"abab"), list(b"baaab")]
    freqs = [1, 2, 3]
    stats = impl.IncrementalPairCounts([list(c) for c in chunks], list(freqs))
    for new_id, pair in enumerate([(97, 97), (98, 97), (256, 97), (97, 98)], start=256):
        stats.merge(pair, new_id)
        chunks = [_merge(c, pair, new_id) for c in chunks]
        _check_stats(stats, chunks, freqs, f"IncrementalPairCounts on b'aaaaa', b'abab', b'baaab' "
                     f"after merging {pair} -> {new_id}")


def _check_training(impl: ModuleType, text: str, vocab_size: int, pattern: str | None, note: str = "") -> None:
    call = f"train_bpe({_call(repr(text), 50)}, {vocab_size}, split_pattern={'None' if pattern is None else '...'})"
    result = impl.train_bpe(text, vocab_size, split_pattern=pattern)
    expect(isinstance(result, tuple) and len(result) == 2,
           f"{call} must return a tuple (merges, vocab), got {type(result).__name__}")
    merges, vocab = result
    expect_type(merges, dict, f"{call}: merges")
    expect_type(vocab, dict, f"{call}: vocab")
    expected = _naive_train(text, vocab_size, pattern)
    got_list = sorted(merges.items(), key=lambda item: item[1])
    expected_list = list(expected.items())
    for step, (want, got) in enumerate(zip(expected_list, got_list)):
        if want != got:
            raise CheckFailed(
                f"{call}: merge number {step + 1} is {got[0]} -> {got[1]}, expected {want[0]} -> "
                f"{want[1]}. Each step merges the most frequent pair (counts of the *current* "
                f"tokens of all chunks); ties go to the smallest pair: "
                f"min(counts, key=lambda p: (-counts[p], p)).{note}")
    expect(len(got_list) == len(expected_list),
           f"{call} learned {len(got_list)} merges, expected {len(expected_list)} "
           f"(vocab_size - 256, or fewer when every chunk has become a single token){note}")
    expect_equal([new_id for _, new_id in merges.items()], list(range(256, 256 + len(merges))),
                 f"{call}: the new ids in merges, in insertion order,")
    for i in range(256):
        expect(vocab.get(i) == bytes([i]), f"{call}: vocab[{i}] is {vocab.get(i)!r}, expected {bytes([i])!r}")
    for (left, right), new_id in merges.items():
        expect(vocab.get(new_id) == vocab[left] + vocab[right],
               f"{call}: vocab[{new_id}] is {vocab.get(new_id)!r}, expected vocab[{left}] + "
               f"vocab[{right}] = {vocab[left] + vocab[right]!r}")
    expect(len(vocab) == 256 + len(merges), f"{call}: vocab has {len(vocab)} entries, expected "
           f"256 + {len(merges)} merges = {256 + len(merges)}")


@public_check("tokenization.train_bpe")
def check_train_bpe(impl: ModuleType) -> None:
    """IncrementalPairCounts keeps counts right after each merge; train_bpe learns the same merges as a naive trainer."""
    with _held_fixed(impl, get_pair_counts=_pair_counts, merge_pair=_merge):
        _check_incremental(impl)
        _check_training(impl, "aaabdaaabac", 259, None)
        _check_training(impl, "ba ab", 257, impl.GPT4_SPLIT_PATTERN,
                        " Here all three pairs have count 1, so the smallest, (32, 97), wins.")
        _check_training(impl, "the cat and the hat and the bat sat on the mat " * 3 + "the end.", 290,
                        impl.GPT4_SPLIT_PATTERN)
        _check_training(impl, "aaaa aaaaa aaaaaa " * 2, 270, SIMPLE_PATTERN,
                        " (Runs like 'aaaa' contain overlapping pairs.)")
        _check_training(impl, "请介绍一下《孙子兵法》这本书。🙂🙂 hello hello", 275, impl.GPT4_SPLIT_PATTERN)
        _check_training(impl, "ab", 300, impl.GPT4_SPLIT_PATTERN,
                        " Stop early when no pair is left (most_frequent() returns None).")
        _check_training(impl, "", 260, impl.GPT4_SPLIT_PATTERN)
        _check_training(impl, "hello world", 256, impl.GPT4_SPLIT_PATTERN)


# ---------------------------------------------------------------------------------------------
# §4 encode_chunk and encode
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.encode")
def check_encode(impl: ModuleType) -> None:
    """encode replays the merges by rank inside each pre-split chunk, handles special tokens, and keeps every byte."""
    merges = _make_merges(HAND_WORDS)
    with _held_fixed(impl, merge_pair=_merge):
        # encode_chunk: the docstring example, then rank order vs count or dict order.
        expect_equal(impl.encode_chunk(b"aaab", {(97, 97): 256, (256, 97): 257}), [257, 98],
                     "encode_chunk(b'aaab', {(97, 97): 256, (256, 97): 257})")
        expect_equal(impl.encode_chunk(b"", merges), [], "encode_chunk(b'', merges)")
        ranked = {(97, 98): 256, (98, 99): 257}
        expect_equal(impl.encode_chunk(b"abcbcbc", ranked), [256, 99, 257, 257],
                     "encode_chunk(b'abcbcbc', {(97, 98): 256, (98, 99): 257}) (apply the merge "
                     "learned first, i.e. with the smallest new id, even if another pair is more frequent)")
        backwards = {(98, 99): 257, (97, 98): 256}
        expect_equal(impl.encode_chunk(b"abc", backwards), [256, 99],
                     "encode_chunk(b'abc', {(98, 99): 257, (97, 98): 256}) (rank = the new id, "
                     "not the position in the dict)")

        # Byte level: without merges, the UTF-8 bytes.
        for text in ["hello", "请", "🙂", "e\u0301"]:
            expect_equal(impl.encode(text, {}), list(text.encode("utf-8")),
                         f"encode({text!r}, {{}}) (no merges: one id per UTF-8 byte)")
        expect_equal(impl.encode("\ud800", {}), [0xED, 0xA0, 0x80],
                     "encode('\\ud800', {}) (a lone surrogate: use text_to_bytes, which passes "
                     "surrogates through, instead of text.encode('utf-8'))")
        expect_equal(impl.encode("", merges), [], "encode('', merges)")

        # Merges apply inside chunks only.
        expect_equal(impl.encode("at the", {(116, 32): 256}), list(b"at the"),
                     "encode('at the', {(116, 32): 256}) ('t' and ' ' are in different chunks "
                     "'at' | ' the', so the merge must not apply: encode each split_text chunk separately)")
        expect_equal(impl.encode("at the", {(116, 32): 256}, split_pattern=None), [97, 256, 116, 104, 101],
                     "encode('at the', {(116, 32): 256}, split_pattern=None)")

        # Against the naive encoder, on every kind of text.
        for text in TRICKY_TEXTS + ["hello the world and the thing, hello!", "aaaaaaa aaaa 请介绍一下这本书🙂"]:
            for pattern in (impl.GPT4_SPLIT_PATTERN, None):
                got = impl.encode(text, merges, split_pattern=pattern)
                expect_type(got, list, f"encode({_call(repr(text))}, merges)")
                vocab = _vocab(merges)
                expect(all(isinstance(i, int) and i in vocab for i in got),
                       f"encode({_call(repr(text))}, merges) returned {got[:20]}..., which has ids "
                       "that are not in the vocabulary")
                expect(b"".join(vocab[i] for i in got) == _utf8(text),
                       f"encode({_call(repr(text))}, merges): the tokens' bytes joined are not the "
                       "text's bytes (every byte must be kept, in order)")
                expect_equal(got, _naive_encode(text, merges, pattern),
                             f"encode({_call(repr(text))}, merges, split_pattern="
                             f"{'None' if pattern is None else 'GPT4_SPLIT_PATTERN'})")

        # Special tokens.
        eot = len(merges) + 256
        special = {"<|endoftext|>": eot}
        text = "<|endoftext|>hello<|endoftext|><|endoftext|> the end<|endoftext|>"
        got = impl.encode(text, merges, special_tokens=special, allowed_special="all")
        expect(got.count(eot) == 4, f"encode({text!r}, merges, special_tokens={special}, "
               f"allowed_special='all') returned {got[:12]}...: with allowed_special='all' each "
               f"'<|endoftext|>' must become the single id {eot} (found it {got.count(eot)} times, expected 4)")
        expect_equal(got, _naive_encode(text, merges, impl.GPT4_SPLIT_PATTERN, special, "all"),
                     f"encode({text!r}, merges, special_tokens={special}, allowed_special='all')")
        got = impl.encode(text, merges, special_tokens=special, allowed_special="none")
        expect_equal(got, _naive_encode(text, merges, impl.GPT4_SPLIT_PATTERN),
                     f"encode({text!r}, merges, special_tokens={special}, allowed_special='none') "
                     "(special-token text encoded as ordinary text)")
        _expect_raises(ValueError, lambda: impl.encode("hi <|endoftext|>", merges, special_tokens=special),
                       "encode('hi <|endoftext|>', merges, special_tokens=...)",
                       "the default allowed_special='none_raise' refuses special-token text")
        expect_equal(impl.encode("hello", merges, special_tokens=special), _naive_encode("hello", merges, impl.GPT4_SPLIT_PATTERN),
                     "encode('hello', merges, special_tokens=...) (no special text: nothing to refuse)")


# ---------------------------------------------------------------------------------------------
# §5 decode
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.decode")
def check_decode(impl: ModuleType) -> None:
    """decode joins the tokens' bytes before decoding, so decode(encode(s)) == s for every str; bad bytes give '�'."""
    bytes_vocab = _vocab({})
    got = impl.decode(list(b"hello"), bytes_vocab)
    expect_type(got, str, "decode(list(b'hello'), vocab)")
    expect_equal(got, "hello", "decode(list(b'hello'), vocab)")
    expect_equal(impl.decode([], bytes_vocab), "", "decode([], vocab)")
    ni = list("你".encode("utf-8"))
    expect_equal(impl.decode(ni, bytes_vocab), "你",
                 f"decode({ni}, vocab) (one character in three byte tokens: join all the bytes "
                 "first, then decode once)")
    expect_equal(impl.decode([0xE4], bytes_vocab), "\ufffd",
                 "decode([0xE4], vocab) (half a character is not valid UTF-8; it must not raise: "
                 "use bytes_to_text, which puts '\\ufffd' there)")
    expect_equal(impl.decode([104, 0xFF, 105], bytes_vocab), "h\ufffdi", "decode([104, 0xFF, 105], vocab)")
    expect_equal(impl.decode([0xED, 0xA0, 0x80], bytes_vocab), "\ud800",
                 "decode([0xED, 0xA0, 0x80], vocab) (the bytes of a lone surrogate must come back "
                 "as '\\ud800', which bytes_to_text does)")

    merges = _make_merges(HAND_WORDS)
    vocab = _vocab(merges)
    eot = 256 + len(merges)
    special = {"<|endoftext|>": eot}
    for text in TRICKY_TEXTS + ["hello the world", "请介绍一下这本书🙂"]:
        ids = _naive_encode(text, merges, impl.GPT4_SPLIT_PATTERN)
        expect_equal(impl.decode(ids, vocab), text, f"decode(encode({_call(repr(text))}))")
    ids = _naive_encode("<|endoftext|>hello<|endoftext|>", merges, None, special, "all")
    expect_equal(impl.decode(ids, vocab, special), "<|endoftext|>hello<|endoftext|>",
                 f"decode({ids}, vocab, special_tokens={special})")
    _expect_raises(ValueError, lambda: impl.decode([104, 99999], vocab),
                   "decode([104, 99999], vocab)", "99999 is neither in vocab nor a special token: "
                   "raise ValueError naming the id")


# ---------------------------------------------------------------------------------------------
# §6 Tokenizer: save / load, special tokens
# ---------------------------------------------------------------------------------------------

def _roundtrip_file(impl: ModuleType, tok, directory: str, name: str, cls=None):
    path = os.path.join(directory, name)
    tok.save(path)
    expect(os.path.isfile(path), f"Tokenizer.save({name!r}) wrote no file")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError as err:
        raise CheckFailed(f"Tokenizer.save wrote a file that is not JSON ({err}): {text[:200]!r}") from None
    expect_type(data, dict, "the JSON file written by Tokenizer.save")
    for key in ("format", "version", "split_pattern", "special_tokens", "merges"):
        expect(key in data, f"the file written by Tokenizer.save has no {key!r} key (keys: {sorted(data)})")
    expect_equal(data["format"], impl.Tokenizer.FORMAT, "the saved file's 'format'")
    expect_equal([list(m) for m in data["merges"]], [list(p) for p, _ in _by_rank(tok.merges)],
                 "the saved 'merges' (item i must be [left, right] of the pair that became id "
                 "256 + i: sort by new id, not by pair or dict order)")
    loaded = (cls or impl.Tokenizer).load(path)
    return loaded, data


@public_check("tokenization.tokenizer")
def check_tokenizer(impl: ModuleType) -> None:
    """Tokenizer.save writes a readable JSON file and Tokenizer.load restores merges, pattern and special tokens."""
    merges = _make_merges(HAND_WORDS)
    backwards = dict(reversed(list(merges.items())))  # insertion order != id order
    with _held_fixed(impl, merge_pair=_merge, encode_chunk=_naive_encode_chunk, encode=_naive_encode_api,
                     decode=_naive_decode):
        tok = impl.Tokenizer(backwards)
        eot = tok.vocab_size
        tok.register_special_tokens({"<|endoftext|>": eot, "<|终|>": eot + 1})
        with tempfile.TemporaryDirectory(prefix="course-check-") as directory:
            loaded, data = _roundtrip_file(impl, tok, directory, "tokenizer.json")
            expect(isinstance(loaded, impl.Tokenizer), f"Tokenizer.load returned a {type(loaded).__name__}, "
                   "expected a Tokenizer")
            expect_equal(dict(loaded.merges), merges, "Tokenizer.load(path).merges")
            expect_equal(loaded.special_tokens, tok.special_tokens,
                         "Tokenizer.load(path).special_tokens (save them in the file and pass them back)")
            expect_equal(loaded.split_pattern, tok.split_pattern, "Tokenizer.load(path).split_pattern")
            expect_equal(loaded.vocab_size, tok.vocab_size, "Tokenizer.load(path).vocab_size")
            text = "<|endoftext|>hello the world<|终|>请介绍一下这本书🙂<|endoftext|>"
            ids = loaded.encode(text, allowed_special="all")
            expect_equal(ids, tok.encode(text, allowed_special="all"),
                         "the loaded tokenizer's encode(text, allowed_special='all')")
            expect_equal(ids[0], eot, f"loaded.encode({text!r}, allowed_special='all')[0]")
            expect_equal(loaded.decode(ids), text, "the loaded tokenizer's decode(encode(text))")

            # No pre-split pattern (None in the file), and the subclass's load returns the subclass.
            plain = impl.BPETokenizer(merges, split_pattern=None)
            loaded, data = _roundtrip_file(impl, plain, directory, "plain.json", cls=impl.BPETokenizer)
            expect(data["split_pattern"] is None, f"save wrote split_pattern {data['split_pattern']!r} "
                   "for a tokenizer without one, expected null")
            expect(type(loaded) is impl.BPETokenizer, f"BPETokenizer.load returned a "
                   f"{type(loaded).__name__}: build the result with cls(...), not Tokenizer(...)")
            expect_equal(loaded.split_pattern, None, "BPETokenizer.load(path).split_pattern")
            expect_equal(loaded.special_tokens, {}, "BPETokenizer.load(path).special_tokens")

            # Files that are not tokenizers are refused.
            bad = os.path.join(directory, "bad.json")
            for content, why in [({**data, "format": "something.else"}, "another 'format'"),
                                 ({**data, "version": impl.Tokenizer.VERSION + 1}, "a newer 'version'")]:
                with open(bad, "w", encoding="utf-8") as f:
                    json.dump(content, f)
                _expect_raises(ValueError, lambda: impl.Tokenizer.load(bad), "Tokenizer.load(path)",
                               f"the file has {why}")

        # Special tokens and pieces (used by the notebook's playground).
        pieces = tok.pieces("<|endoftext|>hello")
        expect_equal(pieces[0], (eot, "<|endoftext|>"), "tok.pieces('<|endoftext|>hello')[0]")
        expect_equal("".join(p for _, p in pieces), "<|endoftext|>hello",
                     "the pieces of tok.pieces('<|endoftext|>hello') joined")


def _naive_encode_api(text, merges, *, split_pattern=None, special_tokens=None, allowed_special="none_raise"):
    """The naive encoder with `encode`'s signature (used while checking the Tokenizer class)."""
    return _naive_encode(text, merges, split_pattern, special_tokens, allowed_special)
