"""Public checks for notebook 01: the byte-level BPE tokenizer in ``course_lib.tokenization``.

One check per exercise section, each run with ``check("tokenization.<name>")``:

    tokenization.get_pair_counts   §1  counts of neighbouring pairs
    tokenization.merge_pair        §2  replace a pair by a new id
    tokenization.train_bpe         §3  IncrementalPairCounts and the training loop
    tokenization.encode            §4  encode_chunk and encode (pre-split, special tokens)
    tokenization.decode            §5  ids -> text, for every str
    tokenization.tokenizer         §6  Tokenizer.save / Tokenizer.load, special tokens

The checks compare your functions with *literal* expected values for fixed inputs (worked out
once with the course's reference tokenizer and pasted here) and test properties every correct
tokenizer has: nothing is lost (decode(encode(s)) == s for every str, the tokens' bytes are the
text's bytes), merge ids are 256, 257, ... in order, vocab[new] == vocab[a] + vocab[b], bad input
is refused with the documented error, save then load gives the same tokenizer.

One bug costs once: where an exercise calls functions of earlier sections (train_bpe calls
merge_pair, say), correct versions of those stand in for yours while the check runs, when the
course's reference versions are at hand (`framework.hold_fixed`). In your own copy of the course
your own functions are used, so a failure may come from an earlier exercise: the message then
says which checks to pass first.

Your code runs apart from the check (see `course_lib.checks.remote`): what your functions return
comes back as plain data (lists, dicts, str, bytes), a tokenizer object comes back as a handle
whose methods and attributes are fetched from your code, and what needs the real objects (is the
dict you passed filled in place? did the list you passed change? save to a file and read it back)
is done by the *probes* below, which only run your code and report what happened; the expected
values stay in the checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time

from .framework import (
    CheckFailed,
    StudentError,
    expect,
    expect_equal,
    expect_raises,
    expect_type,
    hold_fixed,
    oracles,
    probe,
    public_check,
)

MODULE = "tokenization"

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
# Expected values
#
# Everything below was produced once by the course's reference tokenizer
# (solutions/course_lib/tokenization.py) and pasted here. To regenerate a value, run outside the
# repository (so that the reference, not your course_lib, is imported), e.g.
#   cd /tmp && PYTHONPATH=<course repo>/solutions python -c "from course_lib.tokenization import *; \
#       from course_lib.checks.tokenization import *; print(encode(SPECIAL_TEXT, HAND_MERGES, \
#       special_tokens={'<|endoftext|>': EOT}, allowed_special='all'))"
# and likewise list(train_bpe(text, vocab_size, split_pattern=...)[0]) for TRAINING, or the
# .chunks, .counts and .where of an IncrementalPairCounts after each .merge for the §3 tables.
# ---------------------------------------------------------------------------------------------

# Hand-made merges (new ids 256, 257, ... in this order) for the encode/decode/tokenizer checks:
# English pieces, Chinese characters (3 bytes each) and an emoji (4 bytes). HAND_TOKENS lists
# the bytes each new id stands for.
HAND_MERGES = {
    (116, 104): 256, (256, 101): 257, (32, 257): 258, (105, 110): 259, (259, 103): 260,
    (32, 116): 261, (101, 114): 262, (32, 97): 263, (97, 110): 264, (263, 110): 265,
    (265, 100): 266, (108, 108): 267, (104, 101): 268, (268, 267): 269, (269, 111): 270,
    (32, 119): 271, (271, 111): 272, (272, 114): 273, (108, 100): 274, (273, 274): 275,
    (232, 175): 276, (276, 183): 277, (228, 184): 278, (278, 128): 279, (279, 278): 280,
    (280, 139): 281, (228, 185): 282, (282, 166): 283, (240, 159): 284, (284, 153): 285,
    (285, 130): 286, (97, 97): 287, (287, 287): 288,
}
HAND_TOKENS = {
    256: b"th", 257: b"the", 258: b" the", 259: b"in", 260: b"ing", 261: b" t", 262: b"er",
    263: b" a", 264: b"an", 265: b" an", 266: b" and", 267: b"ll", 268: b"he", 269: b"hell",
    270: b"hello", 271: b" w", 272: b" wo", 273: b" wor", 274: b"ld", 275: b" world",
    276: b"\xe8\xaf", 277: "请".encode(), 278: b"\xe4\xb8", 279: "一".encode(),
    280: b"\xe4\xb8\x80\xe4\xb8", 281: "一下".encode(), 282: b"\xe4\xb9", 283: "书".encode(),
    284: b"\xf0\x9f", 285: b"\xf0\x9f\x99", 286: "🙂".encode(), 287: b"aa", 288: b"aaaa",
}
BYTE_VOCAB = {i: bytes([i]) for i in range(256)}
HAND_VOCAB = {**BYTE_VOCAB, **HAND_TOKENS}
EOT = 256 + len(HAND_MERGES)  # 289, the id given to "<|endoftext|>"

# encode(text, HAND_MERGES) with the default GPT4_SPLIT_PATTERN; split_pattern=None gives the
# same ids for these texts (no hand-made merge crosses one of their chunk boundaries).
HAND_ENCODED = {
    "hello the world and the thing, hello!":
        [270, 258, 275, 266, 258, 32, 256, 260, 44, 32, 270, 33],
    "aaaaaaa aaaa 请介绍一下这本书🙂":
        [288, 287, 97, 263, 287, 97, 32, 277, 228, 187, 139, 231, 187, 141, 281, 232, 191, 153,
         230, 156, 172, 283, 286],
    "请介绍一下《孙子兵法》这本书":
        [277, 228, 187, 139, 231, 187, 141, 281, 227, 128, 138, 229, 173, 153, 229, 173, 144, 229,
         133, 181, 230, 179, 149, 227, 128, 139, 232, 191, 153, 230, 156, 172, 283],
    "emoji: 🙂👍🏽 👩‍👩‍👧 🇫🇷":
        [101, 109, 111, 106, 105, 58, 32, 286, 284, 145, 141, 284, 143, 189, 32, 284, 145, 169,
         226, 128, 141, 284, 145, 169, 226, 128, 141, 284, 145, 167, 32, 284, 135, 171, 284, 135,
         183],
    "cafe\u0301 vs caf\u00e9, n\u0303, a\u0308\u0304":
        [99, 97, 102, 101, 204, 129, 32, 118, 115, 32, 99, 97, 102, 195, 169, 44, 32, 110, 204,
         131, 44, 263, 204, 136, 204, 132],
    "lone surrogate: \ud800 and \udfff here":
        [108, 111, 110, 101, 32, 115, 117, 114, 114, 111, 103, 97, 116, 101, 58, 32, 237, 160,
         128, 266, 32, 237, 191, 191, 32, 104, 262, 101],
    "Hello, World! It's 2024... isn't it?\n\n  Tabs\tand  spaces ":
        [72, 101, 267, 111, 44, 32, 87, 111, 114, 274, 33, 32, 73, 116, 39, 115, 32, 50, 48, 50,
         52, 46, 46, 46, 32, 105, 115, 110, 39, 116, 32, 105, 116, 63, 10, 10, 32, 32, 84, 97, 98,
         115, 9, 264, 100, 32, 32, 115, 112, 97, 99, 101, 115, 32],
}

# encode(SPECIAL_TEXT, HAND_MERGES, special_tokens={"<|endoftext|>": EOT}, allowed_special=...)
SPECIAL_TEXT = "<|endoftext|>hello<|endoftext|><|endoftext|> the end<|endoftext|>"
_EOT_AS_TEXT = [60, 124, 101, 110, 100, 111, 102, 116, 101, 120, 116, 124, 62]  # its 13 bytes
SPECIAL_ENCODED = {
    "all": [EOT, 270, EOT, EOT, 258, 32, 101, 110, 100, EOT],
    "none": [*_EOT_AS_TEXT, 270, *_EOT_AS_TEXT, *_EOT_AS_TEXT, 258, 32, 101, 110, 100, *_EOT_AS_TEXT],
}

# Tokenizer(HAND_MERGES) with "<|endoftext|>": EOT and "<|终|>": EOT + 1 registered:
# tok.encode(TOKENIZER_TEXT, allowed_special="all")
TOKENIZER_TEXT = "<|endoftext|>hello the world<|终|>请介绍一下这本书🙂<|endoftext|>"
TOKENIZER_ENCODED = [EOT, 270, 258, 275, EOT + 1, 277, 228, 187, 139, 231, 187, 141, 281, 232, 191,
                     153, 230, 156, 172, 283, 286, EOT]

# train_bpe(text, vocab_size, split_pattern=...): the pairs merged, in order (new ids 256, 257,
# ...). "G" stands for GPT4_SPLIT_PATTERN, "S" for SIMPLE_PATTERN, None for no pre-split.
TRAINING = [
    ("aaabdaaabac", 259, None, [(97, 97), (97, 98), (256, 257)], ""),
    ("ba ab", 257, "G", [(32, 97)],
     " Here all three pairs have count 1, so the smallest, (32, 97), wins."),
    ("the cat and the hat and the bat sat on the mat " * 3 + "the end.", 290, "G",
     [(97, 116), (104, 101), (116, 257), (32, 258), (110, 100), (32, 97), (261, 260), (32, 98),
      (32, 99), (32, 104), (32, 109), (32, 111), (32, 115), (263, 256), (264, 256), (265, 256),
      (266, 256), (267, 110), (268, 256), (32, 101), (275, 260)], ""),
    ("aaaa aaaaa aaaaaa " * 2, 270, "S", [(97, 97), (256, 256), (32, 257), (258, 97), (258, 256)],
     " (Runs like 'aaaa' contain overlapping pairs.)"),
    ("请介绍一下《孙子兵法》这本书。🙂🙂 hello hello", 275, "G",
     [(227, 128), (32, 104), (101, 108), (108, 111), (130, 240), (159, 153), (228, 184),
      (229, 173), (257, 258), (260, 261), (264, 259), (128, 262), (133, 181), (138, 263),
      (139, 231), (139, 232), (141, 262), (144, 229), (153, 230)], ""),
    ("ab", 300, "G", [(97, 98)], " Stop early when no pair is left (most_frequent() returns None)."),
    ("", 260, "G", [], ""),
    ("hello world", 256, "G", [], " (vocab_size 256 means no merge at all.)"),
]



# ---------------------------------------------------------------------------------------------
# Helpers (none of them implements an exercise)
# ---------------------------------------------------------------------------------------------

def _utf8(text: str) -> bytes:
    """The bytes a tokenizer must keep: UTF-8, lone surrogates in their 3-byte form."""
    return text.encode("utf-8", errors="surrogatepass")


# The check that covers each function (where the names differ).
_CHECK_OF = {"encode_chunk": "encode", "IncrementalPairCounts": "train_bpe"}


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@contextlib.contextmanager
def _earlier_held_fixed(impl, exercise: str, *names: str):
    """`hold_fixed` the functions `names` of earlier sections while `exercise` is checked.

    Where no correct version is available (your own copy of the course), your functions stay in
    place, and a failure says which earlier checks to pass first.
    """
    yours = [name for name in names if name not in oracles(MODULE)]
    hint = ""
    if yours:
        checks = list(dict.fromkeys(f"{MODULE}.{_CHECK_OF.get(name, name)}" for name in yours))
        hint = (f" ({exercise} uses your {_listed(yours)}: make sure {_listed(checks)} "
                f"pass{'es' if len(checks) == 1 else ''} first)")
    with hold_fixed(MODULE, impl, *names):
        try:
            yield impl
        except CheckFailed as err:
            if not hint:
                raise
            raise CheckFailed(f"{err}{hint}") from None
        except StudentError as err:
            if not hint or err.not_implemented:
                raise
            raise CheckFailed(f"your code raised {err.type_name}: {err.message}{err.where}{hint}") from None


def _call(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expect_tokens_cover(ids, vocab: dict, data: bytes, what: str) -> None:
    """Every id is in `vocab`, and the tokens' bytes, one after another, are exactly `data`."""
    offset = 0
    for position, token_id in enumerate(ids):
        expect(type(token_id) is int and token_id in vocab,
               f"{what} returned id {token_id!r} at position {position}, which is not in the "
               "vocabulary (the 256 bytes and the merges' new ids)")
        piece = vocab[token_id]
        expect(data.startswith(piece, offset),
               f"{what}: token {position} (id {token_id}, bytes {piece!r}) does not match the "
               f"text's bytes at offset {offset} ({data[offset:offset + len(piece)]!r}): every "
               "byte must be kept, in order")
        offset += len(piece)
    expect(offset == len(data), f"{what}: the tokens cover {offset} of the text's {len(data)} bytes "
           "(every byte must be kept)")


# ---------------------------------------------------------------------------------------------
# Probes: they run your code where it lives and report what happened (no expected values here)
# ---------------------------------------------------------------------------------------------

@probe
def pair_counts_into(module, ids, counts=None) -> dict:
    """Call ``get_pair_counts(ids, counts)`` (or ``get_pair_counts(ids)`` when `counts` is None).
    Reports what it returned, whether that is the very dict passed in, and both arguments after."""
    if counts is None:
        returned = module.get_pair_counts(ids)
    else:
        returned = module.get_pair_counts(ids, counts)
    return {"returned": returned, "same_dict": counts is not None and returned is counts,
            "counts_after": counts, "ids_after": ids}


@probe
def pair_counts_accumulated(module, id_lists) -> dict:
    """Start from an empty dict and call ``get_pair_counts(ids, counts)`` for each list in turn.
    Reports the dict afterwards and, per call, whether the very same dict was returned."""
    counts: dict = {}
    same = []
    for ids in id_lists:
        same.append(module.get_pair_counts(ids, counts) is counts)
    return {"counts": counts, "same_dict": same}


@probe
def merge_pair_on(module, ids, pair, new_id) -> dict:
    """Call ``merge_pair(ids, pair, new_id)``; reports the result, whether it is the list passed
    in, and that list afterwards."""
    returned = module.merge_pair(ids, pair, new_id)
    return {"returned": returned, "same_list": returned is ids, "ids_after": ids}


@probe
def pair_counts_state(stats) -> dict:
    """An IncrementalPairCounts' chunks, counts and where, as plain data (the sets of `where` as
    sorted lists)."""
    return {"chunks": [list(chunk) for chunk in stats.chunks],
            "counts": dict(stats.counts),
            "where": {pair: sorted(holders) for pair, holders in dict(stats.where).items()}}


@probe
def replay_merges(stats, plan) -> list:
    """For each ``(pair, new_id)`` of `plan`, in order: record the state of `stats` (as
    `pair_counts_state`, plus ``most_frequent()``), then call ``stats.merge(pair, new_id)``; record
    the state once more at the end. Returns the len(plan) + 1 records."""
    records = []
    for step in range(len(plan) + 1):
        state = pair_counts_state.function(stats)
        state["most_frequent"] = stats.most_frequent()
        records.append(state)
        if step < len(plan):
            pair, new_id = plan[step]
            stats.merge(pair, new_id)
    return records


@probe
def timed_training(module, text: str, vocab_size: int) -> dict:
    """Time ``train_bpe(text, vocab_size)`` where the code runs (sending the text is not timed).
    Reports the seconds and the number of merges returned (None if the result is not a pair)."""
    started = time.perf_counter()
    result = module.train_bpe(text, vocab_size)
    seconds = time.perf_counter() - started
    n_merges = len(result[0]) if isinstance(result, tuple) and len(result) == 2 else None
    return {"seconds": seconds, "n_merges": n_merges}


@contextlib.contextmanager
def _scratch_folder():
    """A fresh temporary folder where your code runs, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="course-check-") as folder:
        yield folder


@probe
def saved_bytes(tokenizer, pathlike: bool = False):
    """``tokenizer.save(path)`` into a fresh temporary folder (path a str, or a pathlib.Path when
    `pathlike`); the bytes of the file written, or None if no file appeared."""
    import pathlib

    with _scratch_folder() as folder:
        path = os.path.join(folder, "tokenizer.json")
        tokenizer.save(pathlib.Path(path) if pathlike else path)
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()


@probe
def loaded_from(cls, content: bytes, pathlike: bool = False) -> dict:
    """Write `content` to a temporary file and call ``cls.load(path)``. Reports the result (a
    handle) and whether it is exactly of class `cls`."""
    import pathlib

    with _scratch_folder() as folder:
        path = os.path.join(folder, "tokenizer.json")
        with open(path, "wb") as f:
            f.write(content)
        loaded = cls.load(pathlib.Path(path) if pathlike else path)
    return {"tokenizer": loaded, "exact_class": type(loaded) is cls, "class_name": type(loaded).__name__}


@probe
def decode_numpy_ids(module, ids, vocab, special_tokens=None):
    """``decode`` of the ids given as numpy.int64 values (which cannot travel as plain data)."""
    import numpy

    return module.decode([numpy.int64(i) for i in ids], vocab, special_tokens)


# ---------------------------------------------------------------------------------------------
# §1 get_pair_counts
# ---------------------------------------------------------------------------------------------

# ids -> get_pair_counts(ids), from the reference.
PAIR_COUNTS = [
    (list(b"hello"), {(104, 101): 1, (101, 108): 1, (108, 108): 1, (108, 111): 1}),
    (list(b"abracadabra"), {(97, 98): 2, (98, 114): 2, (114, 97): 2, (97, 99): 1, (99, 97): 1,
                            (97, 100): 1, (100, 97): 1}),
    ([3, 3, 3, 3, 3], {(3, 3): 4}),
    ([0, 1, 0, 1, 0, 1], {(0, 1): 3, (1, 0): 2}),
    ([256, 97, 97, 256, 97], {(256, 97): 2, (97, 97): 1, (97, 256): 1}),
]


@public_check("tokenization.get_pair_counts", timeout=10)
def check_get_pair_counts(impl) -> None:
    """get_pair_counts counts every pair of neighbours, overlapping pairs and the last pair included."""
    got = impl.get_pair_counts([1, 2, 3, 1, 2])
    expect_type(got, dict, "get_pair_counts([1, 2, 3, 1, 2])")
    expect_equal(got, {(1, 2): 2, (2, 3): 1, (3, 1): 1}, "get_pair_counts([1, 2, 3, 1, 2])")
    got = impl.get_pair_counts([5, 6, 7, 8])
    expect_type(got, dict, "get_pair_counts([5, 6, 7, 8])")
    expect((7, 8) in got, f"get_pair_counts([5, 6, 7, 8]) returned {got}: the last pair (7, 8) is "
           "missing. A list of n ids has n - 1 neighbouring pairs: (ids[i], ids[i + 1]) for i < n - 1.")
    expect_equal(got, {(5, 6): 1, (6, 7): 1, (7, 8): 1}, "get_pair_counts([5, 6, 7, 8])")
    expect_equal(impl.get_pair_counts([1, 1, 1]), {(1, 1): 2},
                 "get_pair_counts([1, 1, 1]) (pairs overlap: positions 0-1 and 1-2)")
    expect_equal(impl.get_pair_counts([]), {}, "get_pair_counts([])")
    expect_equal(impl.get_pair_counts([42]), {}, "get_pair_counts([42])")
    for ids, expected in PAIR_COUNTS:
        report = pair_counts_into(impl, list(ids))
        expect_equal(report["returned"], expected, f"get_pair_counts({ids})")
        expect(report["ids_after"] == ids, f"get_pair_counts({ids}) changed the list it was given: "
               f"it is now {report['ids_after']}")

    # The optional `counts` argument: add into it, in place, and return it.
    report = pair_counts_into(impl, [1, 2, 9], {(1, 2): 5})
    expect(report["same_dict"], "get_pair_counts([1, 2, 9], counts) must update the dict `counts` in "
           "place and return that same dict (so that counts can be accumulated over many chunks); it "
           f"returned another one, and left counts as {report['counts_after']}")
    expect_equal(report["counts_after"], {(1, 2): 6, (2, 9): 1},
                 "get_pair_counts([1, 2, 9], counts={(1, 2): 5}) left counts as")
    report = pair_counts_into(impl, [4, 5, 4, 5], {})
    expect(report["same_dict"] and report["counts_after"] == {(4, 5): 2, (5, 4): 1},
           "get_pair_counts([4, 5, 4, 5], counts={}) must fill the EMPTY dict it was given and return "
           f"it; afterwards that dict is {report['counts_after']} and it returned "
           f"{'the same dict' if report['same_dict'] else 'another one'}. Test `counts is None`, not "
           "`not counts`: an empty dict is falsy, but it is still the caller's dict (training passes "
           "one empty dict and sums the counts of all chunks into it)")

    # Properties on random lists: n ids hold n - 1 pairs, each made of ids of the list.
    rng = random.Random(1)
    for _ in range(20):
        ids = [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        got = impl.get_pair_counts(ids)
        expect_type(got, dict, f"get_pair_counts({ids})")
        values = list(got.values())
        expect(all(type(n) is int for n in values), f"get_pair_counts({ids}) returned {got}: the counts "
               "must be ints")
        expect(sum(values) == max(len(ids) - 1, 0),
               f"get_pair_counts({ids}) returned {got}: the counts add up to {sum(values)}, "
               f"expected {max(len(ids) - 1, 0)} (a list of n ids has n - 1 neighbouring pairs)")
        expect(all(isinstance(p, tuple) and len(p) == 2 and set(p) <= set(ids) and n > 0
                   for p, n in got.items()),
               f"get_pair_counts({ids}) returned {got}: keys must be (left, right) tuples of ids "
               "of the list, with positive counts")


# ---------------------------------------------------------------------------------------------
# §2 merge_pair
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.merge_pair", timeout=10)
def check_merge_pair(impl) -> None:
    """merge_pair replaces each occurrence left to right, without overlaps, and keeps the rest."""
    report = merge_pair_on(impl, [1, 2, 3, 1, 2], (1, 2), 256)
    got = report["returned"]
    expect_type(got, list, "merge_pair([1, 2, 3, 1, 2], (1, 2), 256)")
    expect(report["ids_after"] == [1, 2, 3, 1, 2] and not report["same_list"],
           f"merge_pair changed the list it was given: ids is now {report['ids_after']}, it should "
           "still be [1, 2, 3, 1, 2]. Build and return a new list.")
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
    expect_equal(impl.merge_pair([7, 7, 7, 7, 7], (7, 7), 99), [99, 99, 7],
                 "merge_pair([7, 7, 7, 7, 7], (7, 7), 99)")
    expect_equal(impl.merge_pair([2, 1], (1, 2), 256), [2, 1], "merge_pair([2, 1], (1, 2), 256) (order matters)")
    expect_equal(impl.merge_pair([], (1, 2), 256), [], "merge_pair([], (1, 2), 256)")
    expect_equal(impl.merge_pair([1], (1, 2), 256), [1], "merge_pair([1], (1, 2), 256)")
    expect_equal(impl.merge_pair([1, 2, 1, 2, 1], (2, 1), 9), [1, 9, 9],
                 "merge_pair([1, 2, 1, 2, 1], (2, 1), 9)")
    expect_equal(impl.merge_pair([256, 97, 97, 256], (97, 97), 256), [256, 256, 256],
                 "merge_pair([256, 97, 97, 256], (97, 97), 256)")

    # Properties on random lists: putting the pair back where new_id stands gives the input, and
    # no occurrence of the pair is left between two ids that were not merged.
    rng = random.Random(2)
    for _ in range(30):
        ids = [rng.randrange(3) for _ in range(rng.randrange(0, 25))]
        pair = (rng.randrange(3), rng.randrange(3))
        call = f"merge_pair({ids}, {pair}, 300)"
        report = merge_pair_on(impl, ids, pair, 300)
        got = report["returned"]
        expect_type(got, list, call)
        expect(report["ids_after"] == ids and not report["same_list"],
               f"{call} changed the list it was given (it is now {report['ids_after']}): build and "
               "return a new list")
        restored = [i for token in got for i in (pair if token == 300 else (token,))]
        expect(restored == ids, f"{call} returned {got}: replacing each 300 by {pair} again gives "
               f"{restored}, not the input (only occurrences of the pair may change)")
        expect(pair not in zip(got, got[1:]),
               f"{call} returned {got}, which still contains the pair {pair}: every occurrence "
               "must be replaced (walk left to right, skipping both ids after a merge)")


# ---------------------------------------------------------------------------------------------
# §3 IncrementalPairCounts and train_bpe
# ---------------------------------------------------------------------------------------------

def _check_stats(stats, chunks, counts, where, what: str) -> None:
    """Compare an IncrementalPairCounts (a handle) with literal chunks, counts and where."""
    state = pair_counts_state(stats)
    expect_equal(state["chunks"], chunks, f"{what}: stats.chunks")
    got = state["counts"]
    if got != counts:
        zero = sorted(p for p, c in got.items() if c == 0)
        extra = f" (pairs whose count drops to 0 must be deleted: {zero})" if zero else ""
        raise CheckFailed(f"{what}: stats.counts is {got}, expected {counts} "
                          f"(each pair counted freqs[k] times per occurrence in chunk k){extra}")
    for pair, holders in where.items():
        got_where = set(state["where"].get(pair, ()))
        expect(got_where == holders, f"{what}: stats.where[{pair}] is {got_where}, expected the "
               f"indices of the chunks containing {pair}: {holders}")


def _check_incremental(impl) -> None:
    # Each step: (chunks, counts, where, most_frequent()) after the merge named in `what`,
    # from the reference.
    stats = impl.IncrementalPairCounts([[1, 2, 3], [1, 2], [3, 3, 3, 3]], [3, 1, 2])
    what = "IncrementalPairCounts([[1, 2, 3], [1, 2], [3, 3, 3, 3]], freqs=[3, 1, 2])"
    _check_stats(stats, [[1, 2, 3], [1, 2], [3, 3, 3, 3]], {(1, 2): 4, (2, 3): 3, (3, 3): 6},
                 {(1, 2): {0, 1}, (2, 3): {0}, (3, 3): {2}}, what)
    expect_equal(stats.most_frequent(), (3, 3), f"{what}.most_frequent()")
    stats.merge((3, 3), 256)
    _check_stats(stats, [[1, 2, 3], [1, 2], [256, 256]], {(1, 2): 4, (2, 3): 3, (256, 256): 2},
                 {(1, 2): {0, 1}, (2, 3): {0}, (256, 256): {2}}, f"{what}, then .merge((3, 3), 256)")
    expect_equal(stats.most_frequent(), (1, 2), f"{what}, after merging (3, 3): .most_frequent()")
    stats.merge((1, 2), 257)
    _check_stats(stats, [[257, 3], [257], [256, 256]], {(257, 3): 3, (256, 256): 2},
                 {(257, 3): {0}, (256, 256): {2}}, f"{what}, then merging (3, 3) and (1, 2)")
    expect_equal(stats.most_frequent(), (257, 3), f"{what}, then merging (3, 3) and (1, 2): "
                 ".most_frequent() (counts are 3 and 2)")
    stats.merge((257, 3), 258)
    stats.merge((256, 256), 259)
    _check_stats(stats, [[258], [257], [259]], {}, {}, f"{what}, after every possible merge")
    expect_equal(stats.most_frequent(), None, f"{what}, after every possible merge: .most_frequent() "
                 "(no pair is left)")

    # A count that drops but stays above 0: the heap's old entry for it is stale.
    stats = impl.IncrementalPairCounts([[1, 2, 3], [1, 2], [2, 3], [5, 6]], [3, 2, 1, 2])
    what = "IncrementalPairCounts([[1, 2, 3], [1, 2], [2, 3], [5, 6]], freqs=[3, 2, 1, 2])"
    expect_equal(stats.most_frequent(), (1, 2), f"{what}.most_frequent()")
    stats.merge((1, 2), 256)
    _check_stats(stats, [[256, 3], [256], [2, 3], [5, 6]], {(256, 3): 3, (5, 6): 2, (2, 3): 1},
                 {(256, 3): {0}, (5, 6): {3}, (2, 3): {2}}, f"{what}, then .merge((1, 2), 256)")
    expect_equal(stats.most_frequent(), (256, 3), f"{what}, then .merge((1, 2), 256): .most_frequent() "
                 "(counts are now (256, 3): 3, (5, 6): 2, (2, 3): 1; the heap still holds the old entry "
                 "(-4, (2, 3)), which is stale because counts[(2, 3)] is no longer 4)")

    # Ties: equal counts -> the smallest pair in tuple order.
    stats = impl.IncrementalPairCounts([[9, 8], [5, 7], [5, 6]], [2, 2, 2])
    expect_equal(stats.most_frequent(), (5, 6), "IncrementalPairCounts([[9, 8], [5, 7], [5, 6]], "
                 "[2, 2, 2]).most_frequent() (all counts tie at 2: take the smallest pair)")

    # Merges that change the counts of overlapping pairs ("aaaaa"), several times; the last
    # pair, (97, 98), is no longer present when it is merged.
    a, b = 97, 98
    stats = impl.IncrementalPairCounts([[a] * 5, [a, b, a, b], [b, a, a, a, b]], [1, 2, 3])
    what = "IncrementalPairCounts on b'aaaaa', b'abab', b'baaab' with freqs [1, 2, 3]"
    _check_stats(stats, [[a] * 5, [a, b, a, b], [b, a, a, a, b]], {(a, a): 10, (a, b): 7, (b, a): 5},
                 {(a, a): {0, 2}, (a, b): {1, 2}, (b, a): {1, 2}}, what)
    steps = [
        ((a, a), 256, [[256, 256, a], [a, b, a, b], [b, 256, a, b]],
         {(a, b): 7, (b, a): 2, (b, 256): 3, (256, a): 4, (256, 256): 1},
         {(a, b): {1, 2}, (b, a): {1}, (b, 256): {2}, (256, a): {0, 2}, (256, 256): {0}}),
        ((b, a), 257, [[256, 256, a], [a, 257, b], [b, 256, a, b]],
         {(a, b): 3, (a, 257): 2, (b, 256): 3, (256, a): 4, (256, 256): 1, (257, b): 2},
         {(a, b): {2}, (a, 257): {1}, (b, 256): {2}, (256, a): {0, 2}, (256, 256): {0}, (257, b): {1}}),
        ((256, a), 258, [[256, 258], [a, 257, b], [b, 258, b]],
         {(a, 257): 2, (b, 258): 3, (256, 258): 1, (257, b): 2, (258, b): 3},
         {(a, 257): {1}, (b, 258): {2}, (256, 258): {0}, (257, b): {1}, (258, b): {2}}),
        ((a, b), 259, [[256, 258], [a, 257, b], [b, 258, b]],
         {(a, 257): 2, (b, 258): 3, (256, 258): 1, (257, b): 2, (258, b): 3},
         {(a, 257): {1}, (b, 258): {2}, (256, 258): {0}, (257, b): {1}, (258, b): {2}}),
    ]
    for pair, new_id, chunks, counts, where in steps:
        stats.merge(pair, new_id)
        _check_stats(stats, chunks, counts, where, f"{what}, after merging {pair} -> {new_id}")


def _check_training(impl, text: str, vocab_size: int, pattern: str | None,
                    expected_pairs: list, note: str) -> None:
    split_pattern = {"G": impl.GPT4_SPLIT_PATTERN, "S": SIMPLE_PATTERN, None: None}[pattern]
    shown = {"G": "GPT4_SPLIT_PATTERN", "S": "SIMPLE_PATTERN", None: "None"}[pattern]
    call = f"train_bpe({_call(repr(text), 50)}, {vocab_size}, split_pattern={shown})"
    result = impl.train_bpe(text, vocab_size, split_pattern=split_pattern)
    expect(isinstance(result, tuple) and len(result) == 2,
           f"{call} must return a tuple (merges, vocab), got {type(result).__name__}")
    merges, vocab = result
    expect_type(merges, dict, f"{call}: merges")
    expect_type(vocab, dict, f"{call}: vocab")
    expected = [(pair, 256 + i) for i, pair in enumerate(expected_pairs)]
    got_list = list(merges.items())  # in the order learned
    for step, (want, got) in enumerate(zip(expected, got_list)):
        if want != got:
            raise CheckFailed(
                f"{call}: merge number {step + 1} is {got[0]} -> {got[1]}, expected {want[0]} -> "
                f"{want[1]}. Each step merges the most frequent pair (counts of the *current* "
                f"tokens of all chunks); ties go to the smallest pair: "
                f"min(counts, key=lambda p: (-counts[p], p)).{note}")
    expect(len(got_list) == len(expected),
           f"{call} learned {len(got_list)} merges, expected {len(expected)} "
           f"(vocab_size - 256, or fewer when every chunk has become a single token){note}")
    expect_equal(list(merges.values()), list(range(256, 256 + len(merges))),
                 f"{call}: the new ids in merges, in insertion order,")
    for i in range(256):
        expect(vocab.get(i) == bytes([i]), f"{call}: vocab[{i}] is {vocab.get(i)!r}, expected {bytes([i])!r}")
    for (left, right), new_id in merges.items():
        expect(vocab.get(new_id) == vocab[left] + vocab[right],
               f"{call}: vocab[{new_id}] is {vocab.get(new_id)!r}, expected vocab[{left}] + "
               f"vocab[{right}] = {vocab[left] + vocab[right]!r}")
    expect(len(vocab) == 256 + len(merges), f"{call}: vocab has {len(vocab)} entries, expected "
           f"256 + {len(merges)} merges = {256 + len(merges)}")


@public_check("tokenization.train_bpe", timeout=30)
def check_train_bpe(impl) -> None:
    """IncrementalPairCounts keeps counts right after each merge; train_bpe learns the expected merges."""
    with _earlier_held_fixed(impl, "train_bpe", "get_pair_counts", "merge_pair"):
        _check_incremental(impl)
        for text, vocab_size, pattern, expected_pairs, note in TRAINING:
            _check_training(impl, text, vocab_size, pattern, expected_pairs, note)
        expect_raises(lambda: impl.train_bpe("hello", 255), ValueError, "train_bpe('hello', 255)",
                      "A vocabulary needs at least the 256 byte ids.")
        expect_raises(lambda: impl.train_bpe(b"hello", 300), TypeError, "train_bpe(b'hello', 300)",
                      "The text must be a str.")


# ---------------------------------------------------------------------------------------------
# §4 encode_chunk and encode
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.encode", timeout=30)
def check_encode(impl) -> None:
    """encode replays the merges by rank inside each pre-split chunk, handles special tokens, and keeps every byte."""
    with _earlier_held_fixed(impl, "encode", "get_pair_counts", "merge_pair"):
        # encode_chunk: the docstring example, then rank order vs count or dict order.
        expect_equal(impl.encode_chunk(b"aaab", {(97, 97): 256, (256, 97): 257}), [257, 98],
                     "encode_chunk(b'aaab', {(97, 97): 256, (256, 97): 257})")
        expect_equal(impl.encode_chunk(b"", HAND_MERGES), [], "encode_chunk(b'', merges)")
        ranked = {(97, 98): 256, (98, 99): 257}
        expect_equal(impl.encode_chunk(b"abcbcbc", ranked), [256, 99, 257, 257],
                     "encode_chunk(b'abcbcbc', {(97, 98): 256, (98, 99): 257}) (apply the merge "
                     "learned first, i.e. with the smallest new id, even if another pair is more frequent)")
        backwards = {(98, 99): 257, (97, 98): 256}
        expect_equal(impl.encode_chunk(b"abc", backwards), [256, 99],
                     "encode_chunk(b'abc', {(98, 99): 257, (97, 98): 256}) (rank = the new id, "
                     "not the position in the dict)")
        expect_equal(impl.encode_chunk(b"aaaaaaa", HAND_MERGES), [288, 287, 97],
                     "encode_chunk(b'aaaaaaa', merges) with (97, 97) -> 287 and (287, 287) -> 288")

        # Byte level: without merges, the UTF-8 bytes (lone surrogates in their 3-byte form).
        expect_equal(impl.encode("\ud800", {}), [0xED, 0xA0, 0x80],
                     "encode('\\ud800', {}) (a lone surrogate: use text_to_bytes, which passes "
                     "surrogates through, instead of text.encode('utf-8'))")
        for text in TRICKY_TEXTS + ["e\u0301", "🙂"]:
            expect_equal(impl.encode(text, {}), list(_utf8(text)),
                         f"encode({_call(repr(text))}, {{}}) (no merges: one id per UTF-8 byte)")
        expect_equal(impl.encode("", HAND_MERGES), [], "encode('', merges)")

        # Merges apply inside chunks only.
        expect_equal(impl.encode("at the", {(116, 32): 256}), list(b"at the"),
                     "encode('at the', {(116, 32): 256}) ('t' and ' ' are in different chunks "
                     "'at' | ' the', so the merge must not apply: encode each split_text chunk separately)")
        expect_equal(impl.encode("at the", {(116, 32): 256}, split_pattern=None), [97, 256, 116, 104, 101],
                     "encode('at the', {(116, 32): 256}, split_pattern=None)")

        # The hand-made merges on fixed texts, with and without a pre-split pattern.
        gpt4 = impl.GPT4_SPLIT_PATTERN
        for text, expected in HAND_ENCODED.items():
            for pattern in (gpt4, None):
                what = (f"encode({_call(repr(text))}, merges, split_pattern="
                        f"{'None' if pattern is None else 'GPT4_SPLIT_PATTERN'})")
                got = impl.encode(text, HAND_MERGES, split_pattern=pattern)
                expect_type(got, list, what)
                _expect_tokens_cover(got, HAND_VOCAB, _utf8(text), what)
                expect_equal(got, expected, what)

        # Every kind of text: every byte kept, in order, with ids of the vocabulary.
        for text in TRICKY_TEXTS:
            what = f"encode({_call(repr(text))}, merges)"
            got = impl.encode(text, HAND_MERGES)
            expect_type(got, list, what)
            _expect_tokens_cover(got, HAND_VOCAB, _utf8(text), what)

        # Special tokens.
        special = {"<|endoftext|>": EOT}
        call = f"encode({SPECIAL_TEXT!r}, merges, special_tokens={special}"
        got = impl.encode(SPECIAL_TEXT, HAND_MERGES, special_tokens=special, allowed_special="all")
        expect_type(got, list, f"{call}, allowed_special='all')")
        expect(got.count(EOT) == 4, f"{call}, allowed_special='all') returned {got[:12]}...: with "
               f"allowed_special='all' each '<|endoftext|>' must become the single id {EOT} (found it "
               f"{got.count(EOT)} times, expected 4)")
        expect_equal(got, SPECIAL_ENCODED["all"], f"{call}, allowed_special='all')")
        got = impl.encode(SPECIAL_TEXT, HAND_MERGES, special_tokens=special, allowed_special="none")
        expect_equal(got, SPECIAL_ENCODED["none"], f"{call}, allowed_special='none') (special-token "
                     "text encoded as ordinary text)")
        expect_raises(lambda: impl.encode("hi <|endoftext|>", HAND_MERGES, special_tokens=special), ValueError,
                      "encode('hi <|endoftext|>', merges, special_tokens=...)",
                      "The default allowed_special='none_raise' refuses special-token text.")
        expect_equal(impl.encode("hello", HAND_MERGES, special_tokens=special), [270],
                     "encode('hello', merges, special_tokens=...) (no special text: nothing to refuse)")
        expect_raises(lambda: impl.encode("hi", HAND_MERGES, allowed_special="some"), ValueError,
                      "encode('hi', merges, allowed_special='some')",
                      "The policies are 'none_raise', 'all' and 'none'.")


# ---------------------------------------------------------------------------------------------
# §5 decode
# ---------------------------------------------------------------------------------------------

@public_check("tokenization.decode", timeout=10)
def check_decode(impl) -> None:
    """decode joins the tokens' bytes before decoding, so decode(encode(s)) == s for every str; bad bytes give '�'."""
    got = impl.decode(list(b"hello"), BYTE_VOCAB)
    expect_type(got, str, "decode(list(b'hello'), vocab)")
    expect_equal(got, "hello", "decode(list(b'hello'), vocab)")
    expect_equal(impl.decode([], BYTE_VOCAB), "", "decode([], vocab)")
    ni = list("你".encode("utf-8"))
    expect_equal(impl.decode(ni, BYTE_VOCAB), "你",
                 f"decode({ni}, vocab) (one character in three byte tokens: join all the bytes "
                 "first, then decode once)")
    expect_equal(impl.decode([0xE4], BYTE_VOCAB), "\ufffd",
                 "decode([0xE4], vocab) (half a character is not valid UTF-8; it must not raise: "
                 "use bytes_to_text, which puts '\\ufffd' there)")
    expect_equal(impl.decode([104, 0xFF, 105], BYTE_VOCAB), "h\ufffdi", "decode([104, 0xFF, 105], vocab)")
    expect_equal(impl.decode([0xED, 0xA0, 0x80], BYTE_VOCAB), "\ud800",
                 "decode([0xED, 0xA0, 0x80], vocab) (the bytes of a lone surrogate must come back "
                 "as '\\ud800', which bytes_to_text does)")

    # Round trips: the UTF-8 bytes of every kind of text, one token per byte.
    for text in TRICKY_TEXTS:
        ids = list(_utf8(text))
        expect_equal(impl.decode(ids, BYTE_VOCAB), text, f"decode(list(text_to_bytes({_call(repr(text))})), vocab)")

    # Merged tokens: a character split over two tokens, then decode(encode(s)) for fixed texts.
    expect_equal(impl.decode([276, 183], HAND_VOCAB), "请",
                 "decode([276, 183], vocab) with vocab[276] = b'\\xe8\\xaf', vocab[183] = b'\\xb7' "
                 "(the bytes of '请' over two tokens: join the bytes of all tokens, then decode once)")
    expect_equal(impl.decode([276], HAND_VOCAB), "\ufffd", "decode([276], vocab) with vocab[276] = b'\\xe8\\xaf'")
    for text, ids in HAND_ENCODED.items():
        expect_equal(impl.decode(ids, HAND_VOCAB), text, f"decode({_call(repr(ids), 50)}, vocab) "
                     f"(the ids of encode({_call(repr(text), 40)}))")

    # Special tokens, and ids that are neither.
    special = {"<|endoftext|>": EOT}
    expect_equal(impl.decode(SPECIAL_ENCODED["all"], HAND_VOCAB, special), SPECIAL_TEXT,
                 f"decode({SPECIAL_ENCODED['all']}, vocab, special_tokens={special})")
    expect_equal(impl.decode([EOT, 270, EOT], HAND_VOCAB, special), "<|endoftext|>hello<|endoftext|>",
                 f"decode([{EOT}, 270, {EOT}], vocab, special_tokens={special})")
    expect_raises(lambda: impl.decode([104, 99999], HAND_VOCAB), ValueError,
                  "decode([104, 99999], vocab)", "99999 is neither in vocab nor a special token: "
                  "raise ValueError naming the id.")
    expect_raises(lambda: impl.decode([EOT], HAND_VOCAB), ValueError,
                  f"decode([{EOT}], vocab) without special_tokens", f"{EOT} is not in vocab: raise ValueError.")


# ---------------------------------------------------------------------------------------------
# §6 Tokenizer: save / load, special tokens
# ---------------------------------------------------------------------------------------------

def _saved_json(tok, what: str, pathlike: bool = False) -> tuple[bytes, dict]:
    """Save `tok` (a handle) where your code runs; the file's bytes and its JSON, checked for the
    keys every tokenizer file has."""
    raw = saved_bytes(tok, pathlike)
    expect(raw is not None, f"{what}: Tokenizer.save(path) wrote no file at path")
    expect_type(raw, bytes, f"{what}: the file written by Tokenizer.save")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CheckFailed(f"{what}: Tokenizer.save wrote a file that is not UTF-8 ({err}): open it with "
                          "encoding='utf-8'") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise CheckFailed(f"{what}: Tokenizer.save wrote a file that is not JSON ({err}): {text[:200]!r}") from None
    expect(isinstance(data, dict), f"{what}: the JSON file written by Tokenizer.save holds a "
           f"{type(data).__name__}, expected an object (a dict)")
    for key in ("format", "version", "split_pattern", "special_tokens", "merges"):
        expect(key in data, f"{what}: the file written by Tokenizer.save has no {key!r} key (keys: {sorted(data)})")
    return raw, data


def _loaded(cls, content: bytes, class_name: str, what: str, pathlike: bool = False):
    """`cls.load` of a file holding `content`; a handle to the tokenizer, checked to be a `cls`."""
    report = loaded_from(cls, content, pathlike)
    expect(report["exact_class"], f"{what}: {class_name}.load returned a {report['class_name']}, expected "
           f"a {class_name}: build the result with cls(...), not Tokenizer(...)")
    return report["tokenizer"]


@public_check("tokenization.tokenizer", timeout=30)
def check_tokenizer(impl) -> None:
    """Tokenizer.save writes a readable JSON file and Tokenizer.load restores merges, pattern and special tokens."""
    backwards = dict(reversed(list(HAND_MERGES.items())))  # insertion order != id order
    with _earlier_held_fixed(impl, "Tokenizer", "get_pair_counts", "merge_pair", "encode_chunk",
                             "encode", "decode"):
        tok = impl.Tokenizer(backwards)
        expect_equal(tok.vocab_size, EOT, f"Tokenizer(merges).vocab_size with {len(HAND_MERGES)} merges")
        tok.register_special_tokens({"<|endoftext|>": EOT, "<|终|>": EOT + 1})
        what = "Tokenizer(merges) with two special tokens, saved then loaded"
        raw, data = _saved_json(tok, what)
        expect_equal(data["format"], impl.Tokenizer.FORMAT, "the saved file's 'format'")
        expect_equal([list(m) for m in data["merges"]] if isinstance(data["merges"], list) else data["merges"],
                     [list(pair) for pair in HAND_MERGES],
                     "the saved 'merges' (item i must be [left, right] of the pair that became id "
                     "256 + i: sort by new id, not by pair or dict order)")
        loaded = _loaded(impl.Tokenizer, raw, "Tokenizer", what)
        expect_equal(loaded.merges, HAND_MERGES, "Tokenizer.load(path).merges")
        expect_equal(loaded.special_tokens, {"<|endoftext|>": EOT, "<|终|>": EOT + 1},
                     "Tokenizer.load(path).special_tokens (save them in the file and pass them back)")
        expect_equal(loaded.split_pattern, impl.GPT4_SPLIT_PATTERN, "Tokenizer.load(path).split_pattern")
        expect_equal(loaded.vocab_size, EOT + 2, "Tokenizer.load(path).vocab_size")
        ids = loaded.encode(TOKENIZER_TEXT, allowed_special="all")
        expect_equal(ids, TOKENIZER_ENCODED,
                     f"the loaded tokenizer's encode({TOKENIZER_TEXT!r}, allowed_special='all')")
        expect_equal(loaded.decode(ids), TOKENIZER_TEXT, "the loaded tokenizer's decode(encode(text))")
        for text in TRICKY_TEXTS:
            expect_equal(loaded.decode(loaded.encode(text)), text,
                         f"the loaded tokenizer's decode(encode({_call(repr(text), 50)}))")

        # No pre-split pattern (None in the file), and the subclass's load returns the subclass.
        plain = impl.BPETokenizer(HAND_MERGES, split_pattern=None)
        what = "BPETokenizer(merges, split_pattern=None), saved then loaded"
        raw, data = _saved_json(plain, what)
        expect(data["split_pattern"] is None, f"save wrote split_pattern {data['split_pattern']!r} "
               "for a tokenizer without one, expected null")
        loaded = _loaded(impl.BPETokenizer, raw, "BPETokenizer", what)
        expect_equal(loaded.split_pattern, None, "BPETokenizer.load(path).split_pattern")
        expect_equal(loaded.special_tokens, {}, "BPETokenizer.load(path).special_tokens")
        expect_equal(loaded.merges, HAND_MERGES, "BPETokenizer.load(path).merges")

        # Files that are not tokenizers are refused.
        for content, why in [({**data, "format": "something.else"}, "another 'format'"),
                             ({**data, "version": impl.Tokenizer.VERSION + 1}, "a newer 'version'")]:
            bad = json.dumps(content).encode("utf-8")
            expect_raises(lambda: loaded_from(impl.Tokenizer, bad), ValueError,
                          f"Tokenizer.load(path) of a file with {why}",
                          "Check 'format' and 'version' and raise ValueError for a file you cannot read.")

        # Special tokens and pieces (used by the notebook's playground).
        expect_equal(tok.pieces("<|endoftext|>hello"), [(EOT, "<|endoftext|>"), (270, "hello")],
                     "tok.pieces('<|endoftext|>hello')")
    expect_raises(lambda: tok.register_special_tokens({"<pad>": 100}), ValueError,
                  "tok.register_special_tokens({'<pad>': 100})", "Id 100 is already a byte token.")
