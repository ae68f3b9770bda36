# Notebook 03 of the course: positional encodings. Percent format: see grading/build.py.

# %% [markdown]
# # 03 · Positional encoding: telling attention where each word is
#
# Self-attention, the heart of the Transformer (notebook 04), compares every token with every other
# token. It is powerful, but it has a blind spot: when every token can see every other token,
# **it does not see the order of the tokens.** To it, "the dog bit the cat" and "the cat bit the
# dog" contain the same words, so they get the same treatment. In this notebook you will first
# *see* that problem in code and in a small trained model (and the one case where attention finds
# the order by itself), then fix it three ways:
#
# | § | you implement in `course_lib/positional.py` | used by |
# |---|---|---|
# | 1 | `sinusoidal_table`: the fixed sine/cosine table of *Attention Is All You Need* | the original Transformer |
# | 2 | `LearnedPositionalEmbedding`: one trainable vector per position | GPT-2, BERT |
# | 3 | `rope_frequencies`: the angles of rotary position embedding (RoPE) | Llama, Qwen, Mistral... |
# | 4 | `apply_rope`: rotate queries and keys by their position | (same) |
#
# Each section explains the idea, asks you to write one function, checks it on the spot
# (`check(...)` prints ✓ or tells you what to fix), and then uses your code in a plot or a widget.
# Hints are folded under each exercise: open them one at a time, only when you are stuck. You can
# "Run All" at any stage: a cell that needs a function you have not written yet says which one and
# skips the rest of its cell.

# %% [setup]
from course_lib.checks import check, needs
from course_lib import device

print(device.describe())

# %% [markdown]
# The next cell imports the functions you will write (and the provided `attention_without_positions`).
# `autoreload` re-reads `course_lib/positional.py` each time you run a cell, so you can edit the file
# and re-run a check without restarting the kernel (a check always runs the file as it is on disk
# now). If anything ever looks stale: *Kernel → Restart*.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.positional

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import check_all
from course_lib.positional import (
    LearnedPositionalEmbedding,
    apply_rope,
    attention_without_positions,
    rope_frequencies,
    sinusoidal_table,
)

DEVICE = device.get_device()
MODE = device.run_mode()
# Sizes per mode: "smoke" runs the whole notebook in seconds (results too small to mean much),
# "quick" is for a laptop CPU, "full" for a GPU.
SIZES = {
    "smoke": dict(toy_steps=30, long_positions=256, rope_offsets=256),
    "quick": dict(toy_steps=120, long_positions=256, rope_offsets=512),
    "full": dict(toy_steps=300, long_positions=1024, rope_offsets=2000),
}[MODE]
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")

# %% [markdown]
# ## The problem: attention cannot tell who bit whom
#
# Give every word a vector (a toy embedding table: four words, 16 numbers each) and run one
# self-attention layer over the sentence. `attention_without_positions` is a minimal single-head
# attention, a preview of notebook 04: every token's output is an average of all the tokens'
# values, weighted by how well its query matches their keys. Positions appear nowhere.

# %%
d_model = 16
vocab = ["the", "dog", "bit", "cat"]
word_vectors = torch.randn(len(vocab), d_model)          # a toy embedding table (notebook 02)
w_q, w_k, w_v = (torch.randn(d_model, d_model) / math.sqrt(d_model) for _ in range(3))


def embed(words, table, vocabulary):
    """(seq, d_model): the vector of each word (or character) of the sentence."""
    return table[torch.tensor([vocabulary.index(w) for w in words])]


sentence_a = "the dog bit the cat".split()
sentence_b = "the cat bit the dog".split()
out_a = attention_without_positions(embed(sentence_a, word_vectors, vocab), w_q, w_k, w_v)
out_b = attention_without_positions(embed(sentence_b, word_vectors, vocab), w_q, w_k, w_v)

# Sentence b is sentence a with words 1 and 4 swapped: b[i] = a[perm[i]].
perm = [0, 4, 2, 3, 1]
assert [sentence_a[i] for i in perm] == sentence_b
print("outputs of b == outputs of a, rows permuted:", torch.allclose(out_b, out_a[perm], atol=1e-6))
print("'dog' (the biter) in a == 'dog' (the bitten) in b:", torch.allclose(out_a[1], out_b[4], atol=1e-6))
print("average over the sentence, a vs b:", torch.allclose(out_a.mean(0), out_b.mean(0), atol=1e-6))

# %% [markdown]
# The same happens in Chinese, character by character: 狗咬了猫 ("the dog bit the cat") and 猫咬了狗
# ("the cat bit the dog") are the same four characters in a different order.

# %%
chars = ["狗", "咬", "了", "猫"]
char_vectors = torch.randn(len(chars), d_model)
zh_a, zh_b = list("狗咬了猫"), list("猫咬了狗")
out_zh_a = attention_without_positions(embed(zh_a, char_vectors, chars), w_q, w_k, w_v)
out_zh_b = attention_without_positions(embed(zh_b, char_vectors, chars), w_q, w_k, w_v)
perm_zh = [3, 1, 2, 0]                                     # 猫咬了狗 = 狗咬了猫 with 狗 and 猫 swapped
assert [zh_a[i] for i in perm_zh] == zh_b
print("狗咬了猫 vs 猫咬了狗, same outputs permuted:", torch.allclose(out_zh_b, out_zh_a[perm_zh], atol=1e-6))

# And it is no accident of these sentences: any shuffle of any input shuffles the outputs alike.
x = torch.randn(7, d_model)
shuffle = torch.randperm(7)
print("random input, random shuffle:",
      torch.allclose(attention_without_positions(x[shuffle], w_q, w_k, w_v),
                     attention_without_positions(x, w_q, w_k, w_v)[shuffle], atol=1e-6))

# %% [markdown]
# **What this means.** Self-attention in which every token sees every token is
# *permutation-equivariant*: shuffle the input rows and the output rows come out shuffled the same
# way, with exactly the same values. The vector computed for "dog" is identical whether the dog
# bites or is bitten, and anything computed from the whole set of outputs (an average, a classifier
# on top) cannot tell the two sentences apart. Stacking more such layers does not help: each layer
# is blind to order in the same way.
#
# **One important exception: the causal mask.** A decoder such as GPT (notebook 06) lets each token
# see only itself and the tokens *before* it. That asymmetry is itself information about order: the
# first token sees one token, the tenth sees ten, and "dog" followed by "cat" gives different
# outputs from "cat" followed by "dog". A causal decoder can therefore work out positions without
# being given any. So the blindness above holds for attention without a causal mask (an encoder,
# notebook 05), not for every Transformer.

# %% [markdown]
# ### A trained model, not just random vectors
#
# Random weights show what attention *computes*; can training find a way around? Train a tiny
# classifier to answer **"who is the biter?"** for all 56 sentences "the A bit the B" made of 8
# animals. It embeds the words, runs attention layers (PyTorch's own `nn.TransformerEncoderLayer`,
# with no positions inside), averages the outputs over the sentence and picks an animal. Four
# versions, trained the same way:
#
# 1. no positions, every token sees every token (as above);
# 2. the same with two layers;
# 3. no positions, but a **causal mask** (each token sees itself and the tokens before it);
# 4. a learned position vector added to each word vector (what you will build in §2).

# %%
animals = ["dog", "cat", "fox", "hen", "owl", "rat", "bee", "cow"]
toy_words = ["the", "bit"] + animals
toy_sentences = [f"the {a} bit the {b}" for a in animals for b in animals if a != b]
toy_ids = torch.tensor([[toy_words.index(w) for w in s.split()] for s in toy_sentences])   # (56, 5)
toy_biter = torch.tensor([animals.index(s.split()[1]) for s in toy_sentences])            # the answer
TOY_LEN = toy_ids.shape[1]


class WhoBitWhom(nn.Module):
    """Embed, add positions (None, "learned", or a fixed (TOY_LEN, d) table), attend, average, classify."""

    def __init__(self, positions=None, causal=False, n_layers=1, d_model=32):
        super().__init__()
        self.embed = nn.Embedding(len(toy_words), d_model)
        if isinstance(positions, torch.Tensor):
            self.register_buffer("positions", positions[:TOY_LEN].float())
        elif positions == "learned":
            self.positions = nn.Parameter(0.1 * torch.randn(TOY_LEN, d_model))
        else:
            self.positions = None
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
            for _ in range(n_layers))
        self.causal = causal
        self.head = nn.Linear(d_model, len(animals))

    def forward(self, ids):
        h = self.embed(ids)                                            # (batch, 5, d_model)
        if self.positions is not None:
            h = h + self.positions
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1]) if self.causal else None
        for layer in self.layers:
            h = layer(h, src_mask=mask, is_causal=self.causal)
        return self.head(h.mean(dim=1))                                # average over the sentence


def train_who_bit_whom(**options):
    """Train on the 56 sentences; return (accuracy, final loss) on those same sentences."""
    torch.manual_seed(0)
    model = WhoBitWhom(**options)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(SIZES["toy_steps"]):
        loss = F.cross_entropy(model(toy_ids), toy_biter)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        accuracy = (model(toy_ids).argmax(dim=-1) == toy_biter).float().mean().item()
    return accuracy, loss.item()


versions = {
    "1. no positions, sees everything": dict(),
    "2. no positions, sees everything, 2 layers": dict(n_layers=2),
    "3. no positions, causal mask": dict(causal=True),
    "4. learned positions, sees everything": dict(positions="learned"),
}
print(f"{len(toy_sentences)} sentences, e.g. {toy_sentences[0]!r} -> {animals[toy_biter[0]]!r}; "
      f"{SIZES['toy_steps']} training steps each; log 2 = {math.log(2):.3f}\n")
toy_results = {}
for name, options in versions.items():
    toy_results[name] = train_who_bit_whom(**options)
    accuracy, loss = toy_results[name]
    print(f"{name:<44} accuracy {100 * accuracy:5.1f}%   loss {loss:.3f}")

# %% [markdown]
# Read the accuracies the cell printed. Versions 1 and 2 cannot go above 50%, and their loss stays
# near log 2: "the dog bit the cat" and "the cat bit the dog" give them exactly the same averaged
# output, so the best they can do is find the two animals and guess between them; the second layer
# changes nothing. Version 3 has no position information at all, yet with the causal mask it can
# learn the task; version 4, given positions, learns it too.
#
# So why do decoders still use positional encodings? Inferring positions from the mask is
# indirect (the model has to count), and it is harder over long texts; explicit positions are
# cheap, precise and easy to use. The rest of this notebook builds them.

# %% [markdown]
# ## §1 The sinusoidal table
#
# *Attention Is All You Need* (2017) adds to the token at position $pos$ a fixed vector
# $PE_{pos}$ of size $d_{model}$, made of sine/cosine pairs at geometrically decreasing frequencies:
#
# $$PE_{pos,\,2i} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right), \qquad
#   PE_{pos,\,2i+1} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right), \qquad i = 0, \dots, d_{model}/2 - 1.$$
#
# Why this shape? Think of each pair of columns $(2i, 2i+1)$ as the hand of a clock at the angle
# $pos \cdot \omega_i$, with $\omega_i = 10000^{-2i/d_{model}}$. The first clocks turn fast (they
# tell neighbours apart), the last ones turn very slowly (they tell the beginning of a long text
# from its end): together, like the hands of a watch, they give every position a unique reading.
# And because moving $k$ positions turns every hand by a fixed angle $k\,\omega_i$, $PE_{pos+k}$ is a
# rotation of $PE_{pos}$ that depends on $k$ only: relative offsets are easy for the model to use.
#
# **Your turn.** Open `course_lib/positional.py` and implement `sinusoidal_table(max_len, d_model,
# base=10000.0, *, dtype, device)`: it returns a `(max_len, d_model)` tensor. The size checks are
# already written. Compute the angles in float64 (accuracy), then convert to `dtype` and `device`.
#
# <details><summary>Hint 1</summary>
#
# Build the angles first: a `(max_len, d_model/2)` matrix with `angle[pos, i] = pos / base ** (2i / d_model)`.
# A column of positions, shape `(max_len, 1)`, times a row of frequencies, shape `(d_model/2,)`,
# gives it by broadcasting. Create both with `dtype=torch.float64`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `torch.arange(0, d_model, 2)` is `0, 2, 4, ...`, i.e. the `2i` of the formula. Then fill an empty
# `(max_len, d_model)` float64 table: the slice `table[:, 0::2]` is its even columns,
# `table[:, 1::2]` its odd columns.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# positions = torch.arange(max_len, dtype=torch.float64)[:, None]
# angles = positions * base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
# table = torch.empty((max_len, d_model), dtype=torch.float64)
# table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
# return table.to(dtype).to(device)
# ```
# </details>

# %% [test positional.sinusoidal_table points=3 hidden]

# %% [markdown]
# Here is the table of the paper's base model, $d_{model} = 512$, as a heatmap: one row per
# position, one column per dimension. The left columns oscillate quickly down the positions, the
# right ones barely move (for them, every position in this range looks almost the same).

# %%
with needs():
    pe = sinusoidal_table(128, 512, device=DEVICE).cpu()      # built on your device, plotted from the CPU

    fig, ax = plt.subplots(figsize=(10, 4))
    image = ax.imshow(pe, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("dimension (even: sin, odd: cos)")
    ax.set_ylabel("position")
    ax.set_title("Sinusoidal positional encodings, 128 positions × 512 dimensions")
    fig.colorbar(image, ax=ax, label="value")
    plt.show()

# %% [markdown]
# Move the slider to see the encoding of one position across the 512 dimensions, drawn as its 256
# (sin, cos) pairs: the sine of pair $i$ is dimension $2i$, its cosine dimension $2i+1$. Position 0
# reads $\sin 0 = 0$ and $\cos 0 = 1$ everywhere. For larger positions the fast clocks on the left
# have already turned many times, while the slow ones on the right have barely left $(0, 1)$.

# %%
def show_position(position=10):
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.plot(pe[position, 0::2].numpy(), lw=1, label="sin (dimension 2i)")
    ax.plot(pe[position, 1::2].numpy(), lw=1, label="cos (dimension 2i + 1)")
    ax.set_xlabel("pair index i (fast clocks on the left, slow on the right)")
    ax.set_ylabel("PE value")
    ax.set_ylim(-1.1, 1.1)
    ax.set_title(f"encoding of position {position} across the 512 dimensions")
    ax.legend(loc="center right")
    plt.show()


with needs():
    pe = sinusoidal_table(128, 512)
    widgets.interact(show_position, position=widgets.IntSlider(value=10, min=0, max=pe.shape[0] - 1,
                                                               description="position"));

# %% [markdown]
# **Distance, not place.** Because each pair is a point on a circle, the dot product
# $PE_p \cdot PE_{p+k} = \sum_i \cos(k\,\omega_i)$ depends only on the offset $k$: the curves
# below are the same whatever the starting position $p$ (move the slider), highest at $k = 0$ and
# decreasing (not monotonically) with the distance.

# %%
max_offset = 100


def dot_by_offset(start):
    """PE[start] . PE[start + k] for k = 0 .. max_offset."""
    return long_pe[start: start + max_offset + 1] @ long_pe[start]


def show_offsets(start=0):
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(dot_by_offset(0).numpy(), label="p = 0", lw=3, alpha=0.4)
    ax.plot(dot_by_offset(start).numpy(), "--", label=f"p = {start}")
    ax.set_xlabel("offset k")
    ax.set_ylabel("PE[p] · PE[p + k]")
    ax.set_title("the dot product depends on the distance k, not on p")
    ax.legend()
    plt.show()


with needs():
    long_pe = sinusoidal_table(SIZES["long_positions"], 512, dtype=torch.float64)
    widgets.interact(show_offsets, start=widgets.IntSlider(value=40, min=0, max=long_pe.shape[0] - max_offset - 1,
                                                           description="p"));
    print("largest difference between the curves for p = 0, 37, 120:",
          max(float((dot_by_offset(p) - dot_by_offset(0)).abs().max()) for p in (37, 120)))

# %% [markdown]
# ## §2 Learned absolute positions
#
# GPT-2 and BERT do not use a formula: they learn one vector per position, exactly like a word
# embedding indexed by the position instead of the word (version 4 of the who-bit-whom model
# above). The table is a trainable `(max_len, d_model)` parameter, and the layer returns
# `x + table[:seq]`.
#
# Two lessons hide in this small module. First, a tensor becomes trainable only if the module
# *registers* it: wrap it in `nn.Parameter`, or `.parameters()` (hence the optimizer, `.to(device)`
# and `state_dict()`) will never see it. Second, a learned table has nothing to say about positions
# beyond `max_len`: a model trained on 1024 positions cannot read position 1024.
#
# **Your turn.** In `course_lib/positional.py`, complete `LearnedPositionalEmbedding`: create
# `self.weight` in `__init__` and add its first `seq` rows to `x` in `forward` (shape checks given).
#
# <details><summary>Hint 1</summary>
#
# `nn.Parameter(tensor)` turns a tensor into a trainable parameter; assigning it to an attribute of
# the module (`self.weight = ...`) registers it. Start it small and random: `torch.randn(...)`
# times `init_std`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# In `forward`, the sequence length is `x.shape[-2]`. The first `seq` rows of the table have shape
# `(seq, d_model)`, and broadcasting adds them to every sequence of an `x` of shape
# `(..., seq, d_model)`. Return a new tensor (`x + ...`), do not change `x` in place.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# # __init__
# self.weight = nn.Parameter(init_std * torch.randn(max_len, d_model))
# # forward
# return x + self.weight[: x.shape[-2]]
# ```
# </details>

# %% [test positional.learned_positions points=2 hidden]

# %%
with needs():
    learned = LearnedPositionalEmbedding(max_len=8, d_model=512).to(DEVICE)
    n_params = sum(p.numel() for p in learned.parameters())
    print(f"parameters: {n_params:,} (8 positions × 512)")
    tokens = torch.randn(2, 5, 512, device=DEVICE)                 # a batch of 2 sequences of 5 tokens
    learned(tokens).pow(2).mean().backward()
    used = (learned.weight.grad.abs().sum(dim=1) > 0).tolist()
    print("rows of the table that received a gradient:", [i for i, u in enumerate(used) if u])
    try:
        learned(torch.randn(1, 9, 512, device=DEVICE))
    except ValueError as err:
        print("9 tokens with max_len=8 ->", err)

# %% [markdown]
# Only the rows of the positions that occurred get a gradient: a learned table only learns
# positions it sees in training, which is one reason newer models prefer a formula. The one they
# mostly use today is RoPE.

# %% [markdown]
# ## §3 Rotary position embedding: the angles
#
# Adding a position vector mixes "what" and "where" into the same numbers. RoPE (Su et al., 2021)
# leaves the token vectors alone and instead **rotates the query and the key** inside attention,
# by an angle proportional to their position. Split a query $q$ of size $d$ (one head) into $d/2$
# pairs of coordinates; pair $j$ turns by $\theta_j = \text{base}^{-2j/d}$ radians per position (fast
# clocks first, slow clocks last, as in §1). A query at position $m$ is rotated by $m\theta_j$, a key
# at position $n$ by $n\theta_j$. Since rotating both vectors of a dot product by angles $a$ and $b$
# is the same as rotating just one by $a - b$,
#
# $$\langle R_m q,\; R_n k\rangle = \langle R_{m-n}\, q,\; k\rangle :$$
#
# the attention score depends on the *offset* $m - n$ only, never on where the pair sits.
#
# **Which coordinates form a pair** is a convention. This course uses the *rotate-half* layout
# (GPT-NeoX, Llama in Hugging Face): coordinate $j$ pairs with $j + d/2$. So the tables have $d$
# columns, the $d/2$ angles written twice: $\cos = \cos([\text{angles}, \text{angles}])$, same for $\sin$.
# (The RoFormer paper pairs neighbours $(2j, 2j+1)$ instead; mixing the two layouts is a classic bug.)
#
# **Your turn.** Implement `rope_frequencies(head_dim, max_len, base=10000.0, *, dtype, device)`,
# returning `(cos, sin)`, each `(max_len, head_dim)`.
#
# <details><summary>Hint 1</summary>
#
# These are the angles of §1 for one head: `angle[pos, j] = pos * base ** (-2j / head_dim)` for the
# `head_dim/2` pairs, a `(max_len, head_dim/2)` matrix computed in float64.
# </details>
#
# <details><summary>Hint 2</summary>
#
# In the rotate-half layout, columns `c` and `c + head_dim/2` belong to the same pair, so each table
# is the angle matrix written twice side by side (`torch.cat` along the last dimension), then its
# cosine (or sine), converted to `dtype` and `device` at the end.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
# angles = torch.arange(max_len, dtype=torch.float64)[:, None] * theta
# angles = torch.cat([angles, angles], dim=-1)
# return angles.cos().to(dtype=dtype).to(device=device), angles.sin().to(dtype=dtype).to(device=device)
# ```
# </details>

# %% [test positional.rope_frequencies points=2 hidden]

# %% [markdown]
# ## §4 Rotary position embedding: the rotation
#
# For pair $j$, with $x_1 = x_j$, $x_2 = x_{j + d/2}$, $c = \cos(p\,\theta_j)$ and $s = \sin(p\,\theta_j)$,
# a 2-D rotation gives
#
# $$x_1' = x_1 c - x_2 s, \qquad x_2' = x_2 c + x_1 s.$$
#
# `x` has shape `(..., seq, head_dim)` (e.g. batch, heads, seq, head_dim); row $t$ is at position $t$
# unless `positions` says otherwise.
#
# **Your turn.** Implement `apply_rope(x, cos, sin, positions=None)`.
#
# <details><summary>Hint 1</summary>
#
# First pick the table rows: the first `seq` rows when `positions` is None, else the rows
# `positions` (indexing a table with a tensor of positions picks those rows, in that order).
# Convert them to `x`'s dtype and device.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Split `x` into its two halves `x1 = x[..., :head_dim // 2]` and `x2 = x[..., head_dim // 2:]`. The
# quarter turn of every pair, $(x_1, x_2) \to (-x_2, x_1)$, is the concatenation of `-x2` and `x1`;
# call it `rotate_half(x)`. Then `x * cos + rotate_half(x) * sin` gives both formulas above at once
# (both halves of the tables hold the same angles).
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# rows = slice(0, seq_len) if positions is None else positions
# cos, sin = cos[rows].to(x), sin[rows].to(x)
# x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2 :]
# return x * cos + torch.cat([-x2, x1], dim=-1) * sin
# ```
# </details>

# %% [test positional.apply_rope points=3 hidden]

# %% [markdown]
# Now the property that makes RoPE worth it, checked numerically: take one query and one key,
# place them at positions $(m, n)$, and compute the score $\langle \text{rope}(q, m), \text{rope}(k, n)\rangle$.
# Pairs with the same $m - n$ give the same score, however far into the text they are.

# %%
head_dim = 64
q, k = torch.randn(head_dim, dtype=torch.float64), torch.randn(head_dim, dtype=torch.float64)


def rope_score(m, n):
    """<rope(q, m), rope(k, n)>: one query at position m, one key at position n."""
    rq = apply_rope(q[None], cos, sin, positions=torch.tensor([m]))[0]
    rk = apply_rope(k[None], cos, sin, positions=torch.tensor([n]))[0]
    return float(rq @ rk)


with needs():
    cos, sin = rope_frequencies(head_dim, 2048, dtype=torch.float64)
    print(f"{'m':>6} {'n':>6} {'m - n':>6}   score")
    for m, n in [(3, 0), (10, 7), (500, 497), (2000, 1997), (0, 5), (40, 45), (1500, 1505), (7, 7), (1234, 1234)]:
        print(f"{m:>6} {n:>6} {m - n:>6}   {rope_score(m, n):+.10f}")
    x = torch.randn(3, 10, head_dim, dtype=torch.float64)
    print("rotation keeps lengths:", torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1)))

# %% [markdown]
# How the score varies with the offset: for a query and key pointing the same way (all ones), the
# score is largest at offset 0 and tends to shrink with distance, a mild built-in preference for
# nearby tokens.

# %%
with needs():
    cos, sin = rope_frequencies(head_dim, 2048, dtype=torch.float64)
    ones = torch.ones(head_dim, dtype=torch.float64)
    offsets = torch.arange(0, SIZES["rope_offsets"])
    rotated_keys = apply_rope(ones.expand(len(offsets), -1), cos, sin, positions=offsets)
    scores = rotated_keys @ ones                            # <rope(1, 0), rope(1, n)> = score at offset n
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(offsets.numpy(), scores.numpy(), lw=0.8)
    ax.set_xlabel("offset m - n")
    ax.set_ylabel("score")
    ax.set_title("RoPE score of two equal vectors against their distance")
    plt.show()

# %% [markdown]
# ## With positions, the dog and the cat are told apart
#
# Back to the opening example. Add the sinusoidal encodings of §1 to the word vectors, or rotate
# queries and keys with RoPE, and the outputs of the two sentences are no longer the same
# vectors permuted.

# %%
seq_len = len(sentence_a)
rope_cos = rope_sin = None


def attention_with_rope(x, positions=None):
    """The same attention, with RoPE applied to the queries and keys (not to the values)."""
    q = apply_rope(x @ w_q, rope_cos, rope_sin, positions)
    k = apply_rope(x @ w_k, rope_cos, rope_sin, positions)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ (x @ w_v)


with needs():
    positions_table = sinusoidal_table(seq_len, d_model)
    x_a = embed(sentence_a, word_vectors, vocab) + positions_table
    x_b = embed(sentence_b, word_vectors, vocab) + positions_table
    out_a_pos = attention_without_positions(x_a, w_q, w_k, w_v)
    out_b_pos = attention_without_positions(x_b, w_q, w_k, w_v)
    print("sinusoidal: outputs of b == outputs of a permuted?", torch.allclose(out_b_pos, out_a_pos[perm], atol=1e-6))
    print("sinusoidal: 'dog' as biter vs bitten, distance:", f"{float((out_a_pos[1] - out_b_pos[4]).norm()):.3f}")

with needs():
    rope_cos, rope_sin = rope_frequencies(d_model, 64)
    rope_a = attention_with_rope(embed(sentence_a, word_vectors, vocab))
    rope_b = attention_with_rope(embed(sentence_b, word_vectors, vocab))
    print("RoPE: outputs of b == outputs of a permuted?", torch.allclose(rope_b, rope_a[perm], atol=1e-6))
    later = attention_with_rope(embed(sentence_a, word_vectors, vocab), positions=torch.arange(40, 40 + seq_len))
    print("RoPE: the same sentence 40 positions later gives the same outputs?", torch.allclose(later, rope_a, atol=1e-5))

# %% [markdown]
# The last line is RoPE's relative property at work: only distances between tokens matter, so a
# sentence means the same at the start of a document and in its middle.
#
# ### 狗咬了猫 and 猫咬了狗 with the 512-d table
#
# Now the Chinese pair, at the size of the paper's model: 512-d character vectors, 512-d attention
# weights, and the first four rows of the 512-d sinusoidal table added to the characters. For each
# character, the cell measures how far its output in 狗咬了猫 is from its output in 猫咬了狗,
# without positions and with them.

# %%
d_big = 512
big_char_vectors = torch.randn(len(chars), d_big)
big_w_q, big_w_k, big_w_v = (torch.randn(d_big, d_big) / math.sqrt(d_big) for _ in range(3))
pinyin = {"狗": "gou (dog)", "咬": "yao (bite)", "了": "le (done)", "猫": "mao (cat)"}

with needs():
    table_512 = sinusoidal_table(len(zh_a), d_big)
    distances = {}
    for label, added in (("without positions", torch.zeros(len(zh_a), d_big)), ("with the 512-d table", table_512)):
        out_a_zh = attention_without_positions(embed(zh_a, big_char_vectors, chars) + added, big_w_q, big_w_k, big_w_v)
        out_b_zh = attention_without_positions(embed(zh_b, big_char_vectors, chars) + added, big_w_q, big_w_k, big_w_v)
        # Character by character: where character c sits in each sentence, and how far apart its two outputs are.
        distances[label] = [float((out_a_zh[i] - out_b_zh[zh_b.index(c)]).norm()) for i, c in enumerate(zh_a)]
        print(f"{label:>22}: " + ", ".join(f"{c} {d:.3f}" for c, d in zip(zh_a, distances[label])))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3), gridspec_kw={"width_ratios": [2, 1]})
    image = left.imshow(table_512[:, :96], aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    left.set_yticks(range(4), [f"position {i}: {pinyin[a].split()[0]} | {pinyin[b].split()[0]}"
                               for i, (a, b) in enumerate(zip(zh_a, zh_b))])
    left.set_xlabel("dimension (the first 96 of 512)")
    left.set_title("rows 0-3 of the 512-d table (characters of sentence a | b)")
    fig.colorbar(image, ax=left)
    width = 0.38
    for shift, (label, values) in zip((-width / 2, width / 2), distances.items()):
        bars = right.bar([i + shift for i in range(len(zh_a))], values, width, label=label)
        right.bar_label(bars, fmt="%.1f", fontsize=7)
    right.set_xticks(range(len(zh_a)), [pinyin[c] for c in zh_a], fontsize=8)
    right.set_ylabel("output distance")
    right.set_title("same character, two sentences")
    right.legend(fontsize=8)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# Without positions every distance printed above is 0: each character gets the same output in both
# sentences. With the table, 狗 at position 0 (the biter) and 狗 at position 3 (the bitten) receive
# different rows, and so different outputs; even 咬 and 了, which did not move, see their
# neighbours at different positions, and their outputs change too.
#
# ## Summary
#
# * Self-attention in which every token sees every token is permutation-equivariant: it cannot see
#   word order, and a trained model built only from it cannot tell who bit whom, however many
#   layers it has.
# * A **causal mask** breaks the symmetry: a decoder can infer positions by itself, although
#   explicit positions make them far easier to use.
# * **Sinusoidal** encodings add a fixed table of sine/cosine clocks; $PE_p \cdot PE_{p+k}$ depends on $k$ only.
# * **Learned** encodings add a trainable table: flexible, but limited to the positions seen in training.
# * **RoPE** rotates queries and keys; the score depends on $m - n$ only, and vector lengths are kept.
#
# Next, notebook 04 builds attention itself: scaled dot products, masks and multiple heads. Your
# `apply_rope` will be back when we build the decoder. A last look at all the checks of this notebook:

# %%
check_all("positional");
