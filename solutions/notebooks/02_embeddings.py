# %% [markdown]
# # 02 · Embeddings: from one-hot vectors to vectors that mean something
#
# A Transformer never sees the word "dog". Notebook 01 turned text into **ids**, and an id is
# just a name: id 17 is no more like id 18 than like id 300. Before any attention can happen,
# each id has to become a **vector** that the model can compute with, and we would like similar
# words to get similar vectors. That is what an *embedding* is, and it is the first layer of
# every language model.
#
# In this notebook you will build, in `course_lib/embeddings.py`:
#
# | § | you implement | what it is |
# |---|---|---|
# | 1 | `one_hot` | the naive vector for an id, and why it is a poor one |
# | 2 | `Embedding.forward` | an embedding table as a PyTorch module (a lookup == a one-hot times a matrix) |
# | 3 | `cosine_similarity` | how we measure whether two vectors "mean the same" |
# | 4 | `nearest_neighbours` | the words whose vectors are closest to a word's vector |
# | 5 | `skipgram_pairs` | training examples from raw text: (word, a word near it) |
# | 6 | `sgns_loss` | word2vec's negative-sampling loss |
#
# Then (§7) you train embeddings on the course's story corpus on a CPU, and (§8) look at what
# they learned: nearest-neighbour tables, a 2-D map of the words, a test of why the model keeps
# two tables, and a widget to explore. Each exercise ends with a check cell: run it until it
# shows ✓. Each exercise also has hints, folded: open them one at a time, only when you are stuck.
#
# You can "Run All" at any stage: a cell that needs a function you have not written yet says
# which one and skips the rest of its cell.

# %% [setup]
import math
import time

import matplotlib.pyplot as plt
import torch

from course_lib import device
from course_lib.checks import check, needs

print(device.describe())

# %% [markdown]
# Your code lives in a normal Python file, so that the tests and later notebooks can import it.
# `autoreload` re-reads the file whenever you save it: edit `course_lib/embeddings.py`, save,
# and re-run the cell here. (A check always runs the file as it is on disk now.)

# %%
%load_ext autoreload
%autoreload 2

import course_lib.embeddings as emb
from course_lib import data

DEVICE = device.get_device()
MODE = device.run_mode()
# Sizes per mode: "smoke" runs the whole notebook in seconds (results too small to mean much),
# "quick" is for a laptop CPU, "full" for a GPU.
SIZES = {
    "smoke": dict(corpus="tiny", dim=16, epochs=1),
    "quick": dict(corpus="small", dim=32, epochs=5),
    "full": dict(corpus="default", dim=64, epochs=8),
}[MODE]
_ = torch.manual_seed(0)

# %% [markdown]
# ## The text we will learn from
#
# The course corpus is a set of short stories about one small world: two dozen children, their
# pets, their things and the places they go ("Mia had a blue boat. Every morning, Mia walked to
# the market."). Here a word is a lower-case run of letters (`tokenize_words`, provided), and the
# `Vocabulary` (provided) numbers the words by frequency: id 1 is the most common word, id 0 is
# `<unk>` for anything unknown. Word-level tokens keep this notebook about embeddings, not about
# tokenizers; everything below works the same with the BPE ids of notebook 01.

# %%
text = data.corpus("train", size=SIZES["corpus"])
words = emb.tokenize_words(text)
vocab = emb.Vocabulary(words)
token_ids = vocab.encode(words)
V = len(vocab)

print(text[:300], "...\n")
print(f"{len(words):,} words, {V} distinct ({SIZES['corpus']} corpus, {MODE} mode)")
print("most frequent:", vocab.itos[1:16])
print("first ids:    ", token_ids[:12].tolist(), "=", vocab.decode(token_ids[:12]))

# %% [markdown]
# ## §1 One-hot vectors
#
# The simplest way to turn id `i` into a vector: a vector of length `V` (the vocabulary size)
# that is 0 everywhere except for a 1 at position `i`. For a vocabulary of 5 words, id 2 is
# `[0, 0, 1, 0, 0]`.
#
# **Exercise.** Open `course_lib/embeddings.py` and implement `one_hot(ids, vocab_size)`. It takes
# a tensor of ids of *any* shape `(...)` and returns a **float32** tensor of shape
# `(..., vocab_size)` on the same device; an id outside `0..vocab_size-1` must raise a
# `ValueError` that names it (a silent all-zero row would hide a bug much later).
# (`torch.nn.functional.one_hot` exists, but it returns integers: write your own.)
#
# <details><summary>Hint 1</summary>
#
# Check the range first: `ids.min()` and `ids.max()` tell you whether some id is outside
# `0..vocab_size-1` (an empty tensor has neither, so only check when `ids.numel() > 0`).
# </details>
#
# <details><summary>Hint 2</summary>
#
# `torch.arange(vocab_size)` is the row `[0, 1, ..., V-1]`. Comparing a tensor of shape `(..., 1)`
# with it broadcasts to shape `(..., V)`: True exactly where the position equals the id. Booleans
# become 0.0 / 1.0 with `.float()`.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# return (ids[..., None] == torch.arange(vocab_size, device=ids.device)).float()
# ```
# </details>

# %% [test embeddings.one_hot points=1 hidden]

# %% [markdown]
# ### Why one-hot vectors are a poor representation
#
# Look at a few words as one-hot vectors: how much of each vector is zero, and how far apart the
# words are from each other.

# %%
probe_words = [w for w in ["red", "blue", "park", "market", "dog", "happy"] if w in vocab]
probe_ids = vocab.encode(probe_words)
with needs():
    one_hots = emb.one_hot(probe_ids, V)
    print(f"{len(probe_words)} words -> one-hot matrix of shape {tuple(one_hots.shape)}")
    print(f"non-zero entries: {int(one_hots.count_nonzero())} of {one_hots.numel()} "
          f"({100 * (1 - 1 / V):.2f}% of every vector is zero)")
    print(f"the whole corpus as one-hot vectors would take {len(token_ids) * V * 4 / 1e6:,.0f} MB "
          f"(as ids: {len(token_ids) * 8 / 1e6:.1f} MB)\n")

    distances = torch.cdist(one_hots, one_hots)
    print("Euclidean distance between the one-hot vectors:")
    print(" " * 8 + "".join(f"{w:>8}" for w in probe_words))
    for word, row in zip(probe_words, distances):
        print(f"{word:>8}" + "".join(f"{d:8.3f}" for d in row.tolist()))

# %% [markdown]
# The table above shows every pair of different words at the same distance, √2 ≈ 1.414, and every
# dot product of two different one-hot vectors is 0. One-hot vectors are:
#
# - **huge and sparse**: `V` numbers per word, all but one of them zero (GPT-2's vocabulary has
#   50,257 entries);
# - **all equally far apart**: "red" is exactly as far from "blue" as from "park", so a model
#   cannot reuse what it learned about one word for a similar one;
# - **meaningless**: nothing about the vector says what the word means, and there is no room to
#   put that information in.
#
# The picture below shows the same thing for one sentence of the corpus: each row is a word,
# each column a vocabulary entry, and all the information is one dot per row.

# %%
sentence_ids = token_ids[:12]
with needs():
    sentence_one_hot = emb.one_hot(sentence_ids, V)
    plt.figure(figsize=(10, 2.4))
    plt.imshow(sentence_one_hot, aspect="auto", cmap="Greys", interpolation="nearest")
    plt.yticks(range(len(sentence_ids)), vocab.decode(sentence_ids), fontsize=8)
    plt.xlabel(f"vocabulary position (0..{V - 1})")
    plt.title("A sentence as one-hot vectors: one black cell per row")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## §2 An embedding table
#
# The fix: give each word a short, dense vector of `D` numbers (GPT-2 small uses 768; we will
# train with the `dim` printed in §7) and **learn** those numbers. The vectors sit in a matrix `W`
# of shape `(V, D)`, one row per word: the *embedding table*. The vector of id `i` is row `W[i]`.
#
# Multiplying a one-hot vector by `W` picks exactly that row, since `one_hot(i) @ W` adds up the
# rows of `W` weighted by `0, ..., 0, 1, 0, ..., 0`. So an embedding table is nothing new: it is a
# linear layer without bias, applied to one-hot inputs. But a lookup reads `D` numbers where the
# product multiplies `V × D` of them, mostly by zero; that is why every framework implements
# embeddings as indexing. And because indexing is differentiable, the gradient of the loss
# reaches exactly the rows that were used, so training moves the vectors of the words it sees.
#
# **Exercise.** Implement `Embedding.forward(ids)` in `course_lib/embeddings.py`. The class already
# creates `self.weight`, an `nn.Parameter` of shape `(num_embeddings, embedding_dim)` initialised
# from N(0, 1) like `torch.nn.Embedding`. Return the rows of `self.weight` for `ids` of any shape
# (output `(..., embedding_dim)`), keeping the autograd graph (no `torch.tensor(...)`, `.data` or
# `.detach()`), and raise an `IndexError` for ids outside `0..num_embeddings-1`. The check loads
# `torch.nn.Embedding` with the same weights and compares outputs **and gradients**.
#
# <details><summary>Hint 1</summary>
#
# Indexing a matrix with a tensor of ids picks whole rows: the result has shape
# `ids.shape + (D,)`, and autograd knows how to send gradients back through it (an id used twice
# gets the sum of both gradients).
# </details>
#
# <details><summary>Hint 2</summary>
#
# Check the range *before* indexing: negative indices are legal in Python (they count from the
# end), so `self.weight[-1]` would silently return the last row instead of failing.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# if ids.numel() > 0 and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
#     raise IndexError(f"an id is outside 0..{self.num_embeddings - 1}")
# return self.weight[ids, :]          # the rows of the ids, all their columns
# ```
# </details>

# %% [test embeddings.embedding points=2 hidden]

# %% [markdown]
# A lookup equals a one-hot vector times the table, value for value:

# %%
table = emb.Embedding(V, 8)
with needs():
    ids = vocab.encode(probe_words)
    looked_up = table(ids)                                # (6, 8): rows of the table
    via_matmul = emb.one_hot(ids, V) @ table.weight       # (6, V) @ (V, 8) -> (6, 8)
    print("lookup shape:", tuple(looked_up.shape), "  one_hot @ W shape:", tuple(via_matmul.shape))
    print("largest difference:", (looked_up - via_matmul).abs().max().item())

    # Speed: 20,000 ids at once.
    many = token_ids[:20_000]
    start = time.perf_counter()
    for _ in range(5):
        table(many)
    lookup_s = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    for _ in range(5):
        emb.one_hot(many, V) @ table.weight
    matmul_s = (time.perf_counter() - start) / 5
    print(f"{len(many):,} ids: lookup {lookup_s * 1e3:.2f} ms, one_hot @ W {matmul_s * 1e3:.1f} ms "
          f"(about {matmul_s / max(lookup_s, 1e-9):.0f}× slower)")

    # Gradients reach only the rows that were looked up.
    table(ids).sum().backward()
    touched = (table.weight.grad.abs().sum(dim=1) > 0).nonzero().flatten()
    print("rows with a gradient:", sorted(vocab.decode(touched)), "= the words we looked up")

# %% [markdown]
# ## §3 Cosine similarity
#
# To ask "are these two words similar?" we compare their vectors by the **angle** between them:
#
# $$\cos(x, y) = \frac{x \cdot y}{\lVert x\rVert\,\lVert y\rVert}$$
#
# It is 1 when the vectors point the same way, 0 when they are orthogonal and -1 when they point
# in opposite directions, whatever their lengths. Ignoring length matters: in trained embeddings,
# a vector's length mostly reflects how often a word was seen, not what it means, and the dot
# product alone would call every frequent word "similar" to everything.
#
# **Exercise.** Implement `cosine_similarity(a, b, eps=1e-8)`: `a` is `(n, d)`, `b` is `(m, d)`,
# and the result is the `(n, m)` matrix of the similarity of every row of `a` with every row of
# `b`. A zero vector must give 0, not NaN: never divide by a norm smaller than `eps` (as
# `F.cosine_similarity` does).
#
# <details><summary>Hint 1</summary>
#
# `cos(x, y)` is the dot product of `x / |x|` and `y / |y|`. Normalise every row of each side once
# (n + m divisions), instead of dividing each of the n·m dot products.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `a.norm(dim=-1, keepdim=True)` has shape `(n, 1)`, so dividing `a` by it divides each row by
# its own length; `.clamp_min(eps)` replaces a zero length by `eps`. Then all the dot products of
# rows of `a` with rows of `b` are one matrix product.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)     # unit rows
# b = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
# return a @ b.T
# ```
# </details>

# %% [test embeddings.cosine_similarity points=2 hidden]

# %% [markdown]
# One-hot vectors, measured this way, are all orthogonal: the matrix is the identity. A random
# (untrained) table is no better: its similarities are just noise around 0.

# %%
with needs():
    print("one-hot vectors:\n", emb.cosine_similarity(emb.one_hot(probe_ids, V), emb.one_hot(probe_ids, V)))
    random_sims = emb.cosine_similarity(table.weight[probe_ids], table.weight[probe_ids]).detach()
    print("\nrandom 8-d vectors:")
    print(" " * 8 + "".join(f"{w:>8}" for w in probe_words))
    for word, row in zip(probe_words, random_sims):
        print(f"{word:>8}" + "".join(f"{s:8.2f}" for s in row.tolist()))

# %% [markdown]
# ## §4 Nearest neighbours
#
# The most useful question to ask an embedding table: which words have vectors closest to this
# word's vector? Computing the cosine similarity of one row with all rows gives one score per
# word; the `k` largest are its nearest neighbours. The word itself always scores 1, so we leave
# it out.
#
# **Exercise.** Implement `nearest_neighbours(weight, query_index, k, exclude_self=True)`. Return
# `(indices, scores)`, both of shape `(k,)`, most similar first. With `exclude_self` the query row
# must not appear, and when fewer than `k` rows are left return all of them. A `query_index` that
# is not a row is an `IndexError`. Use your `cosine_similarity` (so if its check does not pass yet,
# fix that first).
#
# <details><summary>Hint 1</summary>
#
# `cosine_similarity(weight[q:q+1], weight)` has shape `(1, V)`: its row 0 holds the similarity
# of row `q` with every row.
# </details>
#
# <details><summary>Hint 2</summary>
#
# To leave the query out, give it the score `-inf`: it then sorts last. Only `V - 1` candidates
# remain, so ask for `min(k, V - 1)` of them.
# </details>
#
# <details><summary>Hint 3</summary>
#
# `torch.topk(scores, k)` returns `(values, indices)`, sorted largest first; this function returns
# them the other way round, `(indices, values)`.
# </details>

# %% [test embeddings.nearest_neighbours points=1 hidden]

# %% [markdown]
# In a random table the neighbours of a word are random words:

# %%
def neighbour_table(weight, words_to_probe, k=6):
    """Print the k nearest neighbours of each word, with their cosine similarity."""
    for word in words_to_probe:
        indices, scores = emb.nearest_neighbours(weight, vocab.stoi[word], k)
        cells = ", ".join(f"{vocab.itos[i]} ({s:.2f})" for i, s in zip(indices.tolist(), scores.tolist()))
        print(f"{word:>10} → {cells}")


with needs():
    neighbour_table(emb.Embedding(V, 32).weight, probe_words)

# %% [markdown]
# ## §5 Learning from context: skip-gram pairs
#
# Where could meaning come from, with no labels at all? From the text itself: *"You shall know a
# word by the company it keeps"* (J. R. Firth, 1957). In our stories "red", "blue" and "purple"
# all appear between "a" and the name of a thing ("a purple boat", "a blue hat"); "park" and
# "market" both follow "walked to the". A model that has to predict a word's neighbours will
# give words with the same neighbours similar vectors.
#
# **word2vec's skip-gram** model (Mikolov et al., 2013) does exactly that. Its training examples
# are pairs (center word, context word) for every word within `window` positions of the center,
# on both sides. For "tom has a purple boat" and `window=1`, the pairs with center "a" are
# (a, has) and (a, purple).
#
# Why skip-gram rather than a tiny next-token model? Both learn embeddings (notebooks 06-07
# train a next-token Transformer, and its embedding table learns the same kind of structure).
# Skip-gram is the smallest model that does it: two tables and a dot product, no hidden layers,
# trained on a CPU in the time of a coffee, so everything you see below comes from the
# embeddings alone.
#
# **Exercise.** Implement `skipgram_pairs(token_ids, window)`: a LongTensor of shape `(n_pairs, 2)`,
# column 0 the center id and column 1 the context id, for every pair of positions at distance
# `1..window` (both directions, never a word with itself; the order of the rows does not
# matter). A window below 1 is a `ValueError`.
#
# <details><summary>Hint 1</summary>
#
# A loop works: for each position `i`, and each position `j` with `0 < |i - j| <= window` inside
# the stream, the pair is `(ids[i], ids[j])`. Return `torch.tensor(pairs, dtype=torch.long)`,
# reshaped to `(-1, 2)` so that an empty list still has 2 columns.
# </details>
#
# <details><summary>Hint 2 (faster)</summary>
#
# Take one distance `d` at a time: `ids[:-d]` and `ids[d:]` line up every pair of tokens that are
# `d` apart. Stacking them side by side gives the pairs with the center on the left; swapping the
# two gives the pairs with the center on the right.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# pieces = [torch.empty(0, 2, dtype=torch.long)]
# for d in range(1, window + 1):           # ids[:-d] is empty once d >= len(ids): no pairs
#     pieces.append(torch.stack([ids[:-d], ids[d:]], dim=1))
#     pieces.append(torch.stack([ids[d:], ids[:-d]], dim=1))
# return torch.cat(pieces, dim=0)
# ```
# </details>

# %% [test embeddings.skipgram_pairs points=2 hidden]

# %%
example = token_ids[:6]
print("text:", " ".join(vocab.decode(example)))
with needs():
    for center, context in emb.skipgram_pairs(example, window=2).tolist():
        print(f"  ({vocab.itos[center]}, {vocab.itos[context]})", end="")
    print(f"\n\nthe whole corpus gives {len(emb.skipgram_pairs(token_ids, 2)):,} pairs with window=2")

# %% [markdown]
# ## §6 The negative-sampling loss
#
# Skip-gram keeps **two** tables: `center` vectors (the embeddings we keep) and `context`
# vectors (a word's vector when it appears next to a center word). The score of a pair is the
# dot product `c · o` of the center word's *center* vector and the other word's *context*
# vector. The original idea turns scores into a softmax over the whole vocabulary, "which of the
# V words is the context?", which costs `V` dot products per pair.
#
# **Negative sampling** replaces it with a cheap yes/no question. For each true pair, draw `K`
# random words ("negatives") and train `σ(c · o)` towards 1 for the true context and
# `σ(c · n_k)` towards 0 for each random word:
#
# $$\text{loss} = -\log\sigma(c\cdot o) \;-\; \sum_{k=1}^{K} \log\sigma(-\,c\cdot n_k)$$
#
# averaged over the batch (using `1 - σ(x) = σ(-x)`). To lower it, training pulls a word's
# **center** vector towards the **context** vectors of the words around it, and away from the
# context vectors of random words. So two words that occur in the *same* contexts ("red" and
# "blue", both before "boat" and "kite") are pulled towards the same context vectors, and their
# center vectors end up similar, even if they never appear next to each other.
#
# **Exercise.** Implement `sgns_loss(center_vecs, context_vecs, negative_vecs)` with shapes
# `(B, D)`, `(B, D)` and `(B, K, D)`, returning a scalar: the mean over the `B` pairs. Compute
# `log σ(x)` with `F.logsigmoid(x)`: `torch.log(torch.sigmoid(x))` is the same on paper, but
# `sigmoid(-200)` is 0 in float32 and `log(0) = -inf` ruins training.
#
# <details><summary>Hint 1</summary>
#
# The score of each true pair is a dot product of two `D`-vectors, one per row: multiply
# elementwise and sum over the last dimension, giving shape `(B,)`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Each of the `K` negative vectors of pair `b` is dotted with center vector `b`, giving shape
# `(B, K)`: `torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)` does it, and so does a
# batched matrix product (`torch.bmm`) with the centers as `(B, D, 1)` columns.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# positive = (center_vecs * context_vecs).sum(dim=-1)                        # (B,)
# negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)          # (B, K)
# return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(dim=-1)).mean()
# ```
# </details>

# %% [test embeddings.sgns_loss points=2 hidden]

# %% [markdown]
# A sanity check that also explains where training will start: `SkipGramModel` (provided)
# initialises the context table to zeros, so every score is 0, `σ(0) = 1/2`, and the loss of each
# pair is `(1 + K)·log 2` whatever the words.

# %%
K = 5
with needs():
    untrained = emb.SkipGramModel(V, 32)
    pairs = emb.skipgram_pairs(token_ids[:200], 2)
    negatives = torch.randint(1, V, (len(pairs), K))
    print(f"loss at initialisation: {untrained(pairs[:, 0], pairs[:, 1], negatives).item():.4f}   "
          f"(1 + K)·log 2 = {(1 + K) * math.log(2):.4f}")

# %% [markdown]
# ## §7 Training embeddings on the corpus
#
# `train_skipgram` (provided: read it in `course_lib/embeddings.py`) puts your functions
# together. For each epoch it drops a random share of the very frequent words ("the", "a",
# "was" appear next to everything and teach little; word2vec calls this *subsampling*), makes
# the pairs with your `skipgram_pairs`, shuffles them, and for every batch draws `K` negatives per
# pair from the word frequencies raised to the power 3/4, looks vectors up with your `Embedding`
# and takes an Adam step on your `sgns_loss`. The cell prints how long it took.

# %%
settings = dict(dim=SIZES["dim"], window=2, negatives=K, epochs=SIZES["epochs"], batch_size=1024, lr=0.01)
model = vectors = None
with needs():
    start = time.perf_counter()
    model, losses = emb.train_skipgram(token_ids, V, device=DEVICE, seed=0, **settings)
    print(f"trained {len(losses):,} steps (dim={settings['dim']}, {settings['epochs']} epochs) in "
          f"{time.perf_counter() - start:.1f} s on {DEVICE}; "
          f"loss {sum(losses[:20]) / 20:.3f} -> {sum(losses[-100:]) / 100:.3f}")
    vectors = model.center.weight.detach().cpu()

    window = min(50, len(losses))
    smooth = torch.tensor(losses).unfold(0, window, max(1, window // 5)).mean(dim=1)
    plt.figure(figsize=(7, 3))
    plt.plot(range(len(losses)), losses, alpha=0.25, label="loss per step")
    plt.plot(torch.arange(len(smooth)) * max(1, window // 5) + window / 2, smooth, label="moving average")
    plt.axhline((1 + K) * math.log(2), color="grey", linestyle=":", label="(1+K)·log 2: knowing nothing")
    plt.xlabel("step")
    plt.ylabel("SGNS loss")
    plt.legend()
    plt.tight_layout()
    plt.show()


def trained_vectors():
    """The center vectors trained above; stops the cell (see `needs`) if that cell was skipped."""
    if vectors is None:
        raise NotImplementedError("the vectors trained in §7: run that cell once the functions it names are written")
    return vectors

# %% [markdown]
# ## §8 What the vectors learned
#
# ### Nearest neighbours
#
# The same words as before, now with the trained vectors:

# %%
world = data.World(seed=0)
hero = world.characters[0]
with needs():
    neighbour_table(trained_vectors(), probe_words)
    print(f"\n{hero.name} in the world: best friend {hero.friend}, a {hero.pet_kind} named {hero.pet_name}, "
          f"a {hero.object_phrase}, lives near the {hero.home}")
    neighbour_table(trained_vectors(), [w for w in [hero.name.lower()] if w in vocab])

# %% [markdown]
# Colours are closest to other colours and places to other places: nobody told the model what a
# colour is, it only saw that these words occur in the same contexts.
#
# **Neighbours share contexts; they need not appear together.** How often does a word actually
# occur next to its nearest neighbours? The cell below counts, with your `skipgram_pairs`, how
# many times each neighbour appears within 2 words of the word, and lists the words that do
# appear next to it most often.

# %%
with needs():
    corpus_pairs = emb.skipgram_pairs(token_ids, 2)
    together = torch.bincount(corpus_pairs[:, 0] * V + corpus_pairs[:, 1], minlength=V * V).view(V, V)
    for word in [w for w in ["red", "park", "happy"] if w in vocab]:
        i = vocab.stoi[word]
        indices, _ = emb.nearest_neighbours(trained_vectors(), i, 5)
        near = ", ".join(f"{vocab.itos[j]} ({int(together[i, j])}×)" for j in indices.tolist())
        frequent = together[i].topk(6).indices.tolist()
        print(f"{word!r}: nearest neighbours, with how often they occur within 2 words of it: {near}")
        print(f"{' ' * len(repr(word))}  the words that occur next to it most: "
              f"{', '.join(vocab.itos[j] for j in frequent)}\n")

# %% [markdown]
# Look at the counts printed above. The neighbours of "red" (other colours) and of "park" (other
# places) hardly ever occur next to it: what they share with it is the words *around* them ("a",
# "his" and the things that are red; "to the", "near the"). Some neighbours do also occur next to
# their word ("proud" and "everyone" with "happy", in "everyone was happy and proud"), but
# occurring together is neither needed nor enough: sharing contexts is what counts.
#
# The names are more interesting still. A name's neighbours are not just "other names" but *that
# character's* best friend and pet: the stories about a character keep bringing in the friend and
# the pet, in the same scenes, places and games, so the contexts of the three names
# overlap. How often is that true? For each character, is the nearest other character's name
# their best friend, and is their pet's name among their 5 nearest words?

# %%
characters = [c for c in world.characters if c.name.lower() in vocab]
name_ids = torch.tensor([vocab.stoi[c.name.lower()] for c in characters])
with needs():
    name_sims = emb.cosine_similarity(trained_vectors()[name_ids], trained_vectors()[name_ids])
    name_sims.fill_diagonal_(-math.inf)  # a name is not its own "nearest other name"
    closest_name = [characters[j].name for j in name_sims.argmax(dim=1).tolist()]
    friend_hits = sum(found == c.friend for found, c in zip(closest_name, characters))
    pet_hits = 0
    for c in characters:
        top5, _ = emb.nearest_neighbours(trained_vectors(), vocab.stoi[c.name.lower()], 5)
        pet_hits += vocab.stoi.get(c.pet_name.lower(), -1) in top5.tolist()
    n = len(characters)
    print(f"nearest other name is the best friend: {friend_hits}/{n} characters "
          f"(chance: about 1/{n - 1})")
    print(f"own pet's name among the 5 nearest words: {pet_hits}/{n} characters")

# %% [markdown]
# ### A map of the words
#
# The vectors have `dim` dimensions (printed in §7); to draw them we project them onto the two
# directions along which they vary most (PCA, `pca_2d`, provided). Only the words of a few
# categories of the world are drawn, coloured by category. A flat map loses most of the
# dimensions, so the clusters are rougher than in the neighbour tables, but words of one kind
# still gather together.

# %%
categories = {
    "colours": {c.object_colour for c in world.characters} | {c.favourite_colour for c in world.characters},
    "places": {c.home for c in world.characters} | {c.habit_place for c in world.characters},
    "animals": {c.pet_kind for c in world.characters},
    "objects": {c.object_noun for c in world.characters},
    "traits": {c.trait for c in world.characters},
    "names": {c.name.lower() for c in world.characters},
}
plotted = [(w, cat) for cat, ws in categories.items() for w in sorted(ws) if w in vocab]
plot_ids = torch.tensor([vocab.stoi[w] for w, _ in plotted])
with needs():
    chosen = trained_vectors()[plot_ids]
    xy = emb.pca_2d(chosen / chosen.norm(dim=1, keepdim=True))  # unit vectors: cosine geometry

    plt.figure(figsize=(10, 7.5))
    colours = plt.get_cmap("tab10")
    for number, category in enumerate(categories):
        mask = torch.tensor([cat == category for _, cat in plotted])
        plt.scatter(xy[mask, 0], xy[mask, 1], s=18, color=colours(number), label=category)
    for (word, category), (x, y) in zip(plotted, xy.tolist()):
        plt.annotate(word, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points",
                     color=colours(list(categories).index(category)))
    plt.legend(loc="best")
    plt.title("Skip-gram embeddings of the course world, projected on 2 principal components")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# How well do the categories separate in the full space? For each plotted word, look at its 5
# nearest plotted words and count how many share its category.

# %%
labels = [cat for _, cat in plotted]


def category_agreement(weight):
    """{category: share of each word's 5 nearest plotted words that are of its category}."""
    sims = emb.cosine_similarity(weight[plot_ids], weight[plot_ids])
    sims.fill_diagonal_(-math.inf)
    agree = {cat: [] for cat in categories}
    for i, top in enumerate(sims.topk(5, dim=1).indices.tolist()):
        agree[labels[i]].append(sum(labels[j] == labels[i] for j in top) / 5)
    return {cat: sum(scores) / len(scores) for cat, scores in agree.items() if scores}


with needs():
    two_tables = category_agreement(trained_vectors())
    for cat, score in two_tables.items():
        share = (labels.count(cat) - 1) / (len(labels) - 1)  # a random other plotted word
        print(f"{cat:>8}: {100 * score:5.1f}% of the 5 nearest share the category (chance {100 * share:4.1f}%)")

# %% [markdown]
# ### Do the two tables matter?
#
# `SkipGramModel`'s docstring claims that keeping two tables, one for a word as a center and one
# for a word as a context, matters. Test it: train the same model with **one** table playing both
# roles (`tied=True`), with the same data, settings and seed, and compare.
#
# With one table, the score of "red" next to "boat" is the dot product of the *same* kind of
# vectors, so training pulls "red" and "boat" themselves together: words used *together* become
# neighbours, mixed in with words used *alike*. And a word's score with itself, its squared length,
# can only be large, while words almost never follow themselves.

# %%
with needs():
    trained_vectors()
    start = time.perf_counter()
    tied_model, tied_losses = emb.train_skipgram(token_ids, V, device=DEVICE, seed=0, tied=True, progress=False,
                                                 **settings)
    tied_vectors = tied_model.center.weight.detach().cpu()
    print(f"one shared table: trained in {time.perf_counter() - start:.1f} s, final loss "
          f"{sum(tied_losses[-100:]) / 100:.3f} (two tables: {sum(losses[-100:]) / 100:.3f})\n")
    one_table = category_agreement(tied_vectors)
    print(f"{'':>8}  5 nearest plotted words of the same category: two tables | one table")
    for cat in two_tables:
        print(f"{cat:>8}: {100 * two_tables[cat]:26.1f}% | {100 * one_table[cat]:5.1f}%")
    mean = lambda d: 100 * sum(d.values()) / len(d)  # noqa: E731
    print(f"{'average':>8}: {mean(two_tables):26.1f}% | {mean(one_table):5.1f}%\n")
    print("nearest neighbours with ONE table:")
    neighbour_table(tied_vectors, probe_words[:4])

# %% [markdown]
# Compare the two columns the cell printed, and the neighbour lists with those at the start of
# §8: with one table the neighbours of a word drift towards the words it is used *with*, and
# the categories blur. Keeping two tables lets "similar center vectors" mean "used in the same
# places", which is what we wanted to measure.
#
# ### Explore
#
# Pick a word (and how many neighbours to show); the bars are the cosine similarities. The
# widget needs a running kernel: run the cell if you only see its description.

# %%
import ipywidgets as widgets
from IPython.display import display


def show_neighbours(word, k=8):
    indices, scores = emb.nearest_neighbours(trained_vectors(), vocab.stoi[word], k)
    print(f"nearest neighbours of {word!r} (count in corpus: {vocab.counts[vocab.stoi[word]]}):")
    for index, score in zip(indices.tolist(), scores.tolist()):
        print(f"  {vocab.itos[index]:>12}  {score:+.3f}  " + "█" * max(0, round(score * 30)))


with needs():
    emb.nearest_neighbours(trained_vectors(), 1, 1)  # stops here if something is not written yet
    choices = sorted(vocab.itos[1:])
    explorer = widgets.interactive(
        show_neighbours,
        word=widgets.Dropdown(options=choices, value="red" if "red" in vocab else choices[0], description="word"),
        k=widgets.IntSlider(value=8, min=1, max=20, description="neighbours"),
    )
    display(explorer)

# %% [markdown]
# ## Summary
#
# - A one-hot vector names a word but says nothing about it: every pair of words is equally far
#   apart, and the vectors are as long as the vocabulary.
# - An embedding table gives each word a short learned vector; looking up a row is the same as
#   multiplying a one-hot vector by the table, only cheaper, and gradients reach only the rows
#   used.
# - Cosine similarity and nearest neighbours let us inspect what a table learned.
# - Skip-gram with negative sampling learns useful vectors from raw text alone: it pulls a word's
#   center vector towards the context vectors of its neighbours, so words that share contexts get
#   similar vectors. Here the vectors recover the world's categories and even who is friends
#   with whom, and keeping separate center and context tables is measurably better.
#
# A Transformer's first layer is exactly your `Embedding`, trained together with the rest of the
# model. What it still lacks is any sense of *order*: notebook 03 adds positions.
#
# All the checks of this notebook, once more:

# %%
from course_lib.checks import check_all

check_all("embeddings");
