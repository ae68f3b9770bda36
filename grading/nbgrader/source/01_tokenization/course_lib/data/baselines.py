"""Statistics of the corpus, and the simplest possible "language models" as a floor to beat.

How good is a model whose generated sentences are 60% valid? It depends on how easy the grammar
is. So we measure three baselines that know nothing about grammar, each sampled from the train
corpus and scored by the same grammar check:

* random characters, drawn uniformly from the characters the corpus uses;
* a unigram word model: each word (or punctuation mark) drawn independently by its frequency;
* a bigram word model: each word drawn given only the word before it.

A trained model must beat the bigram model to have learned anything beyond word pairs.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import accumulate

from ._util import rng_for
from .grammar import GrammarReport, PUNCTUATION, grammar_report, sentences, vocabulary

_TOKEN_RE = re.compile(r"[A-Za-z]+|'s|[,.!?]")


def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks of a text, in order ("Mia's kite." -> Mia, 's, kite, .)."""
    return _TOKEN_RE.findall(text)


def detokenize(tokens: list[str]) -> str:
    """Join tokens back into text: a space between words, none before punctuation or 's."""
    out = []
    for tok in tokens:
        if out and tok not in PUNCTUATION:
            out.append(" ")
        out.append(tok)
    return "".join(out)


def sample_random_characters(text: str, n_chars: int, seed: int = 0) -> str:
    """`n_chars` characters drawn uniformly from the set of characters in `text`."""
    chars = sorted(set(text))
    return "".join(rng_for(seed, "random-chars").choices(chars, k=n_chars))


def sample_unigram(tokens: list[str], n_tokens: int, seed: int = 0) -> str:
    """Text of `n_tokens` tokens, each drawn independently with its frequency in `tokens`."""
    counts = Counter(tokens)
    vocab = sorted(counts)
    cum = list(accumulate(counts[t] for t in vocab))
    return detokenize(rng_for(seed, "unigram").choices(vocab, cum_weights=cum, k=n_tokens))


def sample_bigram(tokens: list[str], n_tokens: int, seed: int = 0) -> str:
    """Text of `n_tokens` tokens, each drawn given the previous one, with the frequencies of `tokens`.

    Sampling starts after a ".", as at the beginning of a sentence.
    """
    following: dict[str, Counter] = defaultdict(Counter)
    for prev, nxt in zip(tokens, tokens[1:]):
        following[prev][nxt] += 1
    table = {}
    for prev, counter in following.items():
        words = sorted(counter)
        table[prev] = (words, list(accumulate(counter[w] for w in words)))
    rng = rng_for(seed, "bigram")
    out, prev = [], "."
    for _ in range(n_tokens):
        if prev not in table:  # the very last token of the corpus: start a new sentence
            prev = "."
        words, cum = table[prev]
        prev = rng.choices(words, cum_weights=cum)[0]
        out.append(prev)
    return detokenize(out)


def baseline_reports(train_text: str, n_tokens: int = 30_000, seed: int = 0) -> dict[str, GrammarReport]:
    """Grammar validity of the three baselines, each sampled from `train_text`.

    Returns {"random characters": ..., "unigram words": ..., "bigram words": ...}. The random
    character sample has as many characters as the bigram sample.
    """
    tokens = word_tokens(train_text)
    bigram_text = sample_bigram(tokens, n_tokens, seed)
    return {
        "random characters": grammar_report(sample_random_characters(train_text, len(bigram_text), seed)),
        "unigram words": grammar_report(sample_unigram(tokens, n_tokens, seed)),
        "bigram words": grammar_report(bigram_text),
    }


def corpus_statistics(text: str) -> dict[str, int]:
    """Sizes of a corpus: characters, bytes, words, sentences, stories, distinct words and characters."""
    tokens = word_tokens(text)
    words = [t for t in tokens if t not in PUNCTUATION]
    return {
        "characters": len(text),
        "bytes": len(text.encode("utf-8")),
        "words": len(words),
        "sentences": len(sentences(text)),
        "stories": sum(1 for block in text.split("\n\n") if block.strip()),
        "distinct_words": len(set(words)),
        "distinct_characters": len(set(text)),
        "grammar_vocabulary": len(vocabulary()),
    }
