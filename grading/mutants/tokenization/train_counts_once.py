"""Training counts the pairs once and takes the most frequent ones, never updating the ids after a merge."""

CAUGHT_BY = ["tokenization.train_bpe"]


def train_bpe(text, vocab_size, *, split_pattern=GPT4_SPLIT_PATTERN, verbose=False):  # noqa: F821
    counts = {}
    for chunk in split_text(text, split_pattern):  # noqa: F821
        get_pair_counts(list(text_to_bytes(chunk)), counts)  # noqa: F821
    ranked = sorted(counts, key=lambda p: (-counts[p], p))[: vocab_size - 256]
    merges = {pair: 256 + i for i, pair in enumerate(ranked)}
    return merges, build_vocab(merges)  # noqa: F821
