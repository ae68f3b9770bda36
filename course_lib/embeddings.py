"""Word embeddings, from one-hot vectors to vectors learned from text.  Notebook 02.

The idea in one paragraph
-------------------------
A model cannot read the word "cat"; it reads a number, the word's id in a vocabulary. The
simplest vector for an id is a *one-hot* vector: all zeros except a 1 at position ``id``. It is
honest but useless as a representation: it is as long as the vocabulary, almost all zeros, and
every two words are exactly as far apart as any other two, so "cat" is no closer to "dog" than
to "Tuesday". An *embedding table* fixes that: a matrix ``W`` of shape ``(vocab_size, dim)``
whose row ``id`` is the word's vector. Looking a row up is the same as multiplying the one-hot
vector by ``W`` (only cheaper), so the table is just a linear layer whose weights are learned.
Trained on text, words that appear in similar contexts end up with similar vectors, which we
measure with *cosine similarity* and explore with *nearest neighbours*.

How the vectors are learned here: skip-gram with negative sampling
------------------------------------------------------------------
word2vec's skip-gram model (Mikolov et al., 2013) learns from pairs (center word, a word within
``window`` positions of it). For each true pair it also draws a few random "negative" words, and
trains two tables so that ``sigmoid(center · context)`` is high for the true pair and
``sigmoid(center · negative)`` is low for the random ones. Words that share contexts ("red" and
"blue" both come before "ball", "kite", "hat") are pushed towards the same context vectors, so
their own vectors become similar. It needs no labels, trains in seconds on a CPU, and its loss
is a few lines, which is why the course uses it rather than a small next-token model (notebooks
06 and 07 build that one, and its embedding table learns the same kind of structure).

What learners implement (the marked regions; notebook 02, sections 1-6)
-----------------------------------------------------------------------
1. :func:`one_hot`                 ids -> one-hot float vectors
2. :meth:`Embedding.forward`       an embedding table as an ``nn.Module``
3. :func:`cosine_similarity`       all-pairs cosine similarity of two sets of vectors
4. :func:`nearest_neighbours`      the k most similar rows of a table to one row
5. :func:`skipgram_pairs`          (center, context) training pairs from a token stream
6. :func:`sgns_loss`               the negative-sampling loss

Provided (read them, they call your functions): :func:`tokenize_words`, :class:`Vocabulary`,
:class:`SkipGramModel`, :func:`train_skipgram`, :func:`pca_2d`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "one_hot",
    "Embedding",
    "cosine_similarity",
    "nearest_neighbours",
    "skipgram_pairs",
    "sgns_loss",
    "tokenize_words",
    "Vocabulary",
    "SkipGramModel",
    "train_skipgram",
    "pca_2d",
]


# --------------------------------------------------------------------------------------------
# §1 One-hot vectors
# --------------------------------------------------------------------------------------------

def one_hot(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """One-hot encode integer ids.

    Args:
        ids: an integer tensor of any shape ``(...)``, every value in ``0..vocab_size-1``.
        vocab_size: the length ``V`` of each one-hot vector.

    Returns:
        A float32 tensor of shape ``(..., V)`` on the same device as ``ids``, with
        ``out[..., i] == 1.0`` where ``i == ids[...]`` and 0.0 everywhere else.

    Raises:
        TypeError: if ``ids`` is not an integer tensor.
        ValueError: if an id is negative or ``>= vocab_size`` (saying which one).
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(f"one_hot expects an integer tensor of ids, got {type(ids).__name__}"
                        + (f" of dtype {ids.dtype}" if isinstance(ids, torch.Tensor) else ""))
    # YOUR CODE HERE (notebook 02, §1)
    raise NotImplementedError("one_hot() is not written yet (notebook 02, §1). Hint: Refuse ids outside 0..vocab_size-1 with a ValueError, then build a float32 tensor with one more (last) axis of length vocab_size that holds 1.0 exactly at each id's position.")


# --------------------------------------------------------------------------------------------
# §2 An embedding table
# --------------------------------------------------------------------------------------------

class Embedding(nn.Module):
    """A lookup table of learned vectors, one row per id: our own ``torch.nn.Embedding``.

    Args:
        num_embeddings: the number of ids ``V`` (the vocabulary size).
        embedding_dim: the length ``D`` of each vector.

    Attributes:
        weight: an ``nn.Parameter`` of shape ``(V, D)``, initialised from N(0, 1) like
            ``nn.Embedding``. Row ``i`` is the vector of id ``i``.

    ``Embedding(V, D)(ids)`` equals ``one_hot(ids, V) @ weight``, but reads D numbers per id
    instead of multiplying a V-long vector of zeros.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        # A Parameter is a tensor that the module registers: it shows up in .parameters() (so an
        # optimiser updates it), moves with .to(device) and is saved in the state_dict.
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim, device=device, dtype=dtype))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Look up the vectors of ``ids``.

        Args:
            ids: an integer tensor of any shape ``(...)`` with values in ``0..V-1``.

        Returns:
            A tensor of shape ``(..., D)``: ``out[...] == weight[ids[...]]``. Gradients flow back
            into ``weight`` (an id used twice receives the sum of both gradients).

        Raises:
            IndexError: if an id is negative or ``>= V``.
        """
        # YOUR CODE HERE (notebook 02, §2)
        raise NotImplementedError("Embedding.forward() is not written yet (notebook 02, §2). Hint: Refuse ids outside 0..num_embeddings-1 (negative ones too) with an IndexError, then return the table's rows for the ids, taken from the Parameter itself so that gradients reach it.")

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


# --------------------------------------------------------------------------------------------
# §3 Cosine similarity
# --------------------------------------------------------------------------------------------

def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    ``cos(x, y) = x·y / (max(|x|, eps) * max(|y|, eps))``: 1 for vectors pointing the same way,
    0 for orthogonal ones, -1 for opposite ones, whatever their lengths. A zero vector has
    similarity 0 with everything (the ``eps`` keeps it from dividing by zero).

    Args:
        a: ``(n, d)`` float tensor.
        b: ``(m, d)`` float tensor.
        eps: the smallest norm used in the division.

    Returns:
        ``(n, m)`` tensor: ``out[i, j] = cos(a[i], b[j])``.
    """
    # YOUR CODE HERE (notebook 02, §3)
    raise NotImplementedError('cosine_similarity() is not written yet (notebook 02, §3). Hint: Make every row of a and of b unit length (never dividing by less than eps), then get all n×m dot products of the unit rows with one matrix product.')


# --------------------------------------------------------------------------------------------
# §4 Nearest neighbours
# --------------------------------------------------------------------------------------------

def nearest_neighbours(
    weight: torch.Tensor, query_index: int, k: int = 5, exclude_self: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` rows of ``weight`` most similar (by cosine) to row ``query_index``.

    Args:
        weight: ``(V, D)`` embedding table.
        query_index: the row to find neighbours of, in ``0..V-1``.
        k: how many neighbours; if fewer rows are available, all of them are returned.
        exclude_self: leave the query row itself out of the answer (it is always its own
            nearest neighbour, with similarity 1, which tells us nothing).

    Returns:
        ``(indices, scores)``: a LongTensor of shape ``(k',)`` and a float tensor of shape
        ``(k',)`` with ``k' = min(k, number of candidate rows)``, sorted by decreasing
        similarity: ``scores[0]`` is the most similar row's cosine similarity.

    Raises:
        IndexError: if ``query_index`` is not a row of ``weight``.
    """
    # Neighbours are for looking, not for training: detach so that no graph is built and the
    # table can be read (and a copy of its scores edited) even while it is a Parameter.
    weight = weight.detach()
    # YOUR CODE HERE (notebook 02, §4)
    raise NotImplementedError('nearest_neighbours() is not written yet (notebook 02, §4). Hint: Refuse a query that is not a row with an IndexError, score every row by its cosine similarity with the query row (your cosine_similarity), keep the query out when exclude_self, and return the best min(k, candidates) rows, best first, with their scores.')


# --------------------------------------------------------------------------------------------
# §5 Skip-gram training pairs
# --------------------------------------------------------------------------------------------

def skipgram_pairs(token_ids: Sequence[int] | torch.Tensor, window: int) -> torch.Tensor:
    """All (center, context) pairs of a token stream, contexts up to ``window`` positions away.

    For the stream ``[a, b, c]`` and ``window=1`` the pairs are (a, b), (b, a), (b, c), (c, b):
    every word is the center once per neighbour on each side, and a word is never its own
    context.

    Args:
        token_ids: a 1-D sequence (list or LongTensor) of ``n`` token ids.
        window: the largest distance between a center and its context, ``>= 1``.

    Returns:
        A LongTensor of shape ``(n_pairs, 2)``: column 0 holds center ids, column 1 context
        ids. ``n_pairs = sum over d = 1..window of 2 * max(n - d, 0)``. The order of the rows
        does not matter (training shuffles them).

    Raises:
        ValueError: if ``window < 1``.
    """
    ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(-1)
    # YOUR CODE HERE (notebook 02, §5)
    raise NotImplementedError('skipgram_pairs() is not written yet (notebook 02, §5). Hint: Refuse window < 1 with a ValueError, then list every (center, context) pair of positions 1..window apart, in both directions, as an (n_pairs, 2) LongTensor (shape (0, 2) when there is none).')


# --------------------------------------------------------------------------------------------
# §6 The negative-sampling loss
# --------------------------------------------------------------------------------------------

def sgns_loss(center_vecs: torch.Tensor, context_vecs: torch.Tensor, negative_vecs: torch.Tensor) -> torch.Tensor:
    """The skip-gram negative-sampling loss, averaged over the batch.

    For one pair with center vector ``c``, true context vector ``o`` and K negative vectors
    ``n_1..n_K``::

        loss = -log sigmoid(c · o) - sum_k log sigmoid(-c · n_k)

    The first term is small when the true pair scores high, the second when every random word
    scores low (``sigmoid(-x) = 1 - sigmoid(x)``: "the probability that n_k is *not* a context").

    Args:
        center_vecs: ``(B, D)`` vectors of the center words.
        context_vecs: ``(B, D)`` vectors of their true context words.
        negative_vecs: ``(B, K, D)`` vectors of K random words per pair.

    Returns:
        A scalar tensor: the mean over the B pairs of the loss above. It stays finite for any
        finite scores (uses ``F.logsigmoid``, never ``log(sigmoid(x))``, which gives
        ``log(0) = -inf`` once ``x < -100`` or so in float32).
    """
    # YOUR CODE HERE (notebook 02, §6)
    raise NotImplementedError('sgns_loss() is not written yet (notebook 02, §6). Hint: Score each pair by the dot product of its center and context vectors and each negative by its dot product with the center; the loss of a pair is -log σ(true score) - Σ log σ(-negative score), with a numerically stable log-sigmoid; return the mean over the batch.')


# --------------------------------------------------------------------------------------------
# Provided: words, a vocabulary, the model, its training loop and a 2-D map
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z]+|'s\b")


def tokenize_words(text: str) -> list[str]:
    """Lower-case words of ``text``; punctuation and digits are dropped.

    >>> tokenize_words("Mia found a red kite. She smiled!")
    ['mia', 'found', 'a', 'red', 'kite', 'she', 'smiled']
    """
    return _WORD.findall(text.lower())


class Vocabulary:
    """A word <-> id mapping built from a list of words.

    Ids are given by decreasing frequency (ties alphabetically), so id 1 is the most common
    word; id 0 is ``"<unk>"``, which stands for every word seen fewer than ``min_count`` times
    or never seen at all.

    Attributes:
        itos: list of words, ``itos[id] -> word``.
        stoi: dict, ``stoi[word] -> id``.
        counts: list of how often each id occurs in the words it was built from.
    """

    UNK = "<unk>"

    def __init__(self, words: Iterable[str], min_count: int = 1):
        frequency = Counter(words)
        kept = sorted((w for w, c in frequency.items() if c >= min_count), key=lambda w: (-frequency[w], w))
        self.itos: list[str] = [self.UNK] + kept
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        rare = sum(c for w, c in frequency.items() if c < min_count)
        self.counts: list[int] = [rare] + [frequency[w] for w in kept]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, words: Iterable[str]) -> torch.Tensor:
        """Words -> a LongTensor of ids (unknown words become 0, ``<unk>``)."""
        return torch.tensor([self.stoi.get(w, 0) for w in words], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> words."""
        return [self.itos[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words: {', '.join(self.itos[1:8])}, ...)"


class SkipGramModel(nn.Module):
    """Two embedding tables (built with your :class:`Embedding`) trained with your :func:`sgns_loss`.

    ``center`` holds the vectors we keep (a word's "meaning"); ``context`` holds the vectors a
    word has when it appears *next to* a center word. Training pulls a word's center vector
    towards the context vectors of its neighbours in the text, so two words that appear in the
    same contexts are pulled towards the same context vectors, and their center vectors end up
    close: similar center vectors mean "used in the same places", not "used together".

    Why two tables: with one (``tied=True``, one table serves both roles) the score of a word
    with itself is its squared length, which training can only make large, while a word rarely
    occurs next to itself; and "red" next to "boat" pulls the vectors of "red" and "boat"
    themselves together, mixing "used together" into "used alike". Notebook 02 measures the
    difference.
    """

    def __init__(self, vocab_size: int, dim: int, *, tied: bool = False):
        super().__init__()
        self.tied = tied
        self.center = Embedding(vocab_size, dim)
        self.context = self.center if tied else Embedding(vocab_size, dim)
        # word2vec's initialisation: small random centers, zero contexts. N(0, 1) rows (the
        # default) would start with dot products of size ~sqrt(dim), where sigmoid saturates.
        with torch.no_grad():
            self.center.weight.uniform_(-0.5 / dim, 0.5 / dim)
            if not tied:
                self.context.weight.zero_()

    def forward(self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Loss of a batch: ``centers``, ``contexts`` are ``(B,)`` ids, ``negatives`` ``(B, K)``."""
        return sgns_loss(self.center(centers), self.context(contexts), self.context(negatives))


def _keep_probabilities(counts: torch.Tensor, threshold: float) -> torch.Tensor:
    """word2vec's subsampling: keep a token of frequency f with probability min(1, sqrt(t/f) + t/f).

    Words like "the" and "a" appear next to everything, so they teach little and would take
    most of the training time; dropping most of their occurrences helps both speed and quality.
    """
    frequency = counts.float() / counts.sum().clamp_min(1)
    ratio = threshold / frequency.clamp_min(1e-12)
    return (ratio.sqrt() + ratio).clamp(max=1.0)


def train_skipgram(
    token_ids: torch.Tensor,
    vocab_size: int,
    *,
    dim: int = 32,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 3,
    batch_size: int = 512,
    lr: float = 0.01,
    subsample: float | None = 1e-3,
    device=None,
    seed: int = 0,
    progress: bool = True,
    tied: bool = False,
) -> tuple[SkipGramModel, list[float]]:
    """Train skip-gram embeddings on a stream of token ids with your functions.

    Each epoch: drop frequent words at random (subsampling), make all (center, context) pairs
    with :func:`skipgram_pairs`, shuffle them, and for each batch draw ``negatives`` random words
    per pair from the unigram distribution raised to the power 3/4 (word2vec's choice: rare
    words are drawn a bit more often than their frequency), then take an Adam step on
    :func:`sgns_loss`.

    Args:
        token_ids: 1-D LongTensor of ids (e.g. ``Vocabulary.encode(words)``).
        vocab_size: number of rows of the tables.
        dim, window, negatives, epochs, batch_size, lr: the usual knobs.
        subsample: the subsampling threshold ``t`` (None or 0 to keep every token).
        device: where to train (default ``course_lib.device.get_device()``).
        seed: makes the run repeatable.
        progress: show a tqdm progress bar.
        tied: use one table for centers and contexts (see :class:`SkipGramModel`), to compare.

    Returns:
        ``(model, losses)``: the trained :class:`SkipGramModel` (on ``device``) and the loss of
        every step.
    """
    from .device import get_device

    device = get_device() if device is None else torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    token_ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(-1)
    counts = torch.bincount(token_ids, minlength=vocab_size)
    noise = counts.float().pow(0.75)
    noise = noise / noise.sum()
    keep = _keep_probabilities(counts, subsample) if subsample else torch.ones(vocab_size)

    model = SkipGramModel(vocab_size, dim, tied=tied).to(device)
    # Try your functions on a few tokens first, so that one that is not written yet stops the
    # training here, before the optimiser is built and a progress bar is drawn.
    with torch.no_grad():
        trial = skipgram_pairs(token_ids[: 2 * window + 2], window).to(device)
        if len(trial):
            model(trial[:, 0], trial[:, 1], trial[:, :1])
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []

    # Draw every epoch's subsampling up front, so that the progress bar knows the exact number of
    # steps: n kept tokens give sum over d = 1..window of 2 * (n - d) pairs.
    keep_masks = [torch.rand(len(token_ids), generator=generator) < keep[token_ids] for _ in range(epochs)]
    kept_counts = [int(mask.sum()) for mask in keep_masks]
    total_steps = sum(math.ceil(sum(2 * max(n - d, 0) for d in range(1, window + 1)) / batch_size)
                      for n in kept_counts)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, desc="skip-gram", unit="step")
    # Every operation here is tiny (a few thousand rows of 32 numbers). On a CPU, splitting such
    # work over threads costs more in synchronisation than it gains, badly so on a busy laptop
    # (measured on 2 cores under load: 3 ms per step with one thread, 30 ms with two).
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        for epoch, mask in enumerate(keep_masks):
            kept = token_ids[mask]
            pairs = skipgram_pairs(kept, window)
            pairs = pairs[torch.randperm(len(pairs), generator=generator)]
            for start in range(0, len(pairs), batch_size):
                batch = pairs[start:start + batch_size]
                drawn = torch.multinomial(noise, len(batch) * negatives, replacement=True, generator=generator)
                batch, drawn = batch.to(device), drawn.view(len(batch), negatives).to(device)
                loss = model(batch[:, 0], batch[:, 1], drawn)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
                if bar is not None:
                    bar.update(1)
                    if len(losses) % 50 == 0:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{sum(losses[-50:]) / 50:.3f}")
    finally:
        torch.set_num_threads(threads)
        if bar is not None:
            bar.close()
    return model, losses


def pca_2d(weight: torch.Tensor) -> torch.Tensor:
    """Project the rows of ``weight`` onto their two main directions of variation.

    Args:
        weight: ``(V, D)`` float tensor.

    Returns:
        ``(V, 2)`` float tensor on the CPU: the coordinates of each row in the plane that keeps
        as much of the rows' spread as a plane can (principal component analysis).

    How: centre the rows, take the singular value decomposition ``X = U S Vᵀ``; the first two
    rows of ``Vᵀ`` are the directions of largest variance, and ``X @ Vᵀ[:2].T`` the coordinates.
    Each direction's sign is fixed (largest coordinate positive) so repeated runs look the same.
    """
    x = weight.detach().to("cpu", torch.float32)
    x = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    coords = x @ vh[:2].T
    flip = torch.sign(coords.gather(0, coords.abs().argmax(dim=0, keepdim=True)))
    return coords * torch.where(flip == 0, torch.ones_like(flip), flip)
