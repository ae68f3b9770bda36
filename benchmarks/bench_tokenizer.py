"""Benchmark the reference byte-level BPE tokenizer (course_lib.tokenization).

Measures, on ~1 MB of text:
  * training time (incremental pair counts) for a given vocabulary size,
  * encoding and decoding throughput (MB/s of UTF-8 text),
  * compression (UTF-8 bytes per token),
and, for comparison, a naive trainer that re-counts every pair of the text after
each merge, timed on a small slice together with the fast trainer on the same
slice (both must learn the same merges).

Usage (from the repository root):

    PYTHONPATH=solutions python benchmarks/bench_tokenizer.py
    PYTHONPATH=solutions python benchmarks/bench_tokenizer.py --text some.txt --vocab-size 2000 --repeat 3

Without ``--text`` the script generates ~1 MB of English-like text itself
(sentences from a fixed word list, Zipf-like word frequencies, a seeded RNG),
so the numbers are reproducible without any data download.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from course_lib.tokenization import (
    GPT4_SPLIT_PATTERN,
    decode,
    encode,
    get_pair_counts,
    merge_pair,
    split_text,
    text_to_bytes,
    train_bpe,
)

# A fixed vocabulary of common English words, most frequent first (roughly).
WORDS = """
the of and to a in is it you that he was for on are with as I his they be at one have this
from or had by hot word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big high
such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state keep eye never
last let thought city tree cross farm hard start might story saw far sea draw left late run
while press close night real life few north open seem together next white children begin got
walk example ease paper group always music those both mark often letter until mile river car
feet care second book carry took science eat room friend began idea fish mountain stop once
base hear horse cut sure watch color face wood main enough plain girl usual young ready above
ever red list though feel talk bird soon body dog family direct pose leave song measure door
product black short numeral class wind question happen complete ship area half rock order fire
south problem piece told knew pass since top whole king space heard best hour better true during
hundred five remember step early hold west ground interest reach fast verb sing listen six table
travel less morning ten simple several vowel toward war lay against pattern slow center love
person money serve appear road map rain rule govern pull cold notice voice unit power town fine
certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct
able pound done beauty drive stood contain front teach week final gave green oh quick develop
ocean warm free minute strong special mind behind clear tail produce fact street inch multiply
nothing course stay wheel full force blue object decide surface deep moon island foot system
busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check
game shape equate miss brought heat snow tire bring yes distant fill east paint language among
happy unhappy happiness token tokenizer transformer attention model learn learning learned
""".split()

PUNCT_END = [".", ".", ".", ".", "!", "?"]
NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "London", "Paris", "Monday", "March"]


def generate_text(n_bytes: int = 1_000_000, seed: int = 0) -> str:
    """~``n_bytes`` of deterministic English-like text (ASCII)."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(WORDS))]  # Zipf's law
    paragraphs, paragraph, size = [], [], 0
    while size < n_bytes:
        n_words = rng.randint(4, 18)
        words = rng.choices(WORDS, weights=weights, k=n_words)
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), rng.choice(NAMES))
        if rng.random() < 0.1:
            words.insert(rng.randrange(len(words)), str(rng.randint(1, 2030)))
        if rng.random() < 0.15 and len(words) > 4:
            words[rng.randrange(1, len(words) - 1)] += ","
        if rng.random() < 0.05:
            words[-1] += "'s"
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice(PUNCT_END)
        paragraph.append(sentence)
        size += len(sentence) + 1
        if rng.random() < 0.15:
            paragraphs.append(" ".join(paragraph))
            paragraph = []
    paragraphs.append(" ".join(paragraph))
    return "\n\n".join(paragraphs)[:n_bytes]


def naive_train_bpe(text: str, vocab_size: int, split_pattern: str | None = GPT4_SPLIT_PATTERN):
    """Re-count every pair of every chunk after each merge (no dedup, no index)."""
    chunks = [list(text_to_bytes(chunk)) for chunk in split_text(text, split_pattern)]
    merges = {}
    for new_id in range(256, vocab_size):
        counts: dict = {}
        for ids in chunks:
            get_pair_counts(ids, counts)
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))  # the same tie-break
        chunks = [merge_pair(ids, pair, new_id) for ids in chunks]
        merges[pair] = new_id
    return merges


def timed(fn, repeat: int):
    """Run ``fn`` ``repeat`` times; return (last result, list of seconds)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def fmt(times: list[float]) -> str:
    if len(times) == 1:
        return f"{times[0]:.3f} s"
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s of {len(times)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", type=Path, help="UTF-8 text file (default: generated ~1 MB)")
    parser.add_argument("--vocab-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="timing repetitions (best is reported)")
    parser.add_argument("--naive-bytes", type=int, default=20_000,
                        help="size of the slice for the naive-vs-fast comparison (0 to skip)")
    args = parser.parse_args()

    if args.text:
        text = args.text.read_text(encoding="utf-8", errors="replace")
        source = str(args.text)
    else:
        text = generate_text()
        source = "generated English-like text (seed 0)"
    n_bytes = len(text_to_bytes(text))
    chunks = split_text(text, GPT4_SPLIT_PATTERN)
    print(f"text: {source}")
    print(f"  size: {n_bytes:,} bytes, {len(text):,} characters, "
          f"{len(chunks):,} chunks ({len(set(chunks)):,} distinct)")

    (merges, vocab), t_train = timed(lambda: train_bpe(text, args.vocab_size), args.repeat)
    print(f"train (vocab_size={args.vocab_size}, {len(merges)} merges): {fmt(t_train)}")

    ids, t_enc = timed(lambda: encode(text, merges), args.repeat)
    decoded, t_dec = timed(lambda: decode(ids, vocab), args.repeat)
    assert decoded == text, "round trip failed"
    mb = n_bytes / 1e6
    print(f"encode: {mb / min(t_enc):.2f} MB/s ({fmt(t_enc)})")
    print(f"decode: {mb / min(t_dec):.2f} MB/s ({fmt(t_dec)})")
    print(f"compression: {len(ids):,} tokens, {n_bytes / len(ids):.2f} bytes/token "
          f"(round trip ok)")

    if args.naive_bytes > 0:
        piece = text[: args.naive_bytes]
        piece_bytes = len(text_to_bytes(piece))
        fast, t_fast = timed(lambda: train_bpe(piece, args.vocab_size)[0], args.repeat)
        slow, t_slow = timed(lambda: naive_train_bpe(piece, args.vocab_size), 1)
        same = list(fast.items()) == list(slow.items())
        print(f"naive vs incremental on the first {piece_bytes:,} bytes "
              f"({len(fast)} merges, identical merges: {same}):")
        print(f"  naive re-count: {min(t_slow):.3f} s   incremental: {min(t_fast):.3f} s   "
              f"speed-up: {min(t_slow) / min(t_fast):.0f}x")
        if not same:
            raise SystemExit("naive and incremental training disagree")


if __name__ == "__main__":
    main()
