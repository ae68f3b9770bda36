# Notebook 05 of the course: the encoder. Percent format: see grading/build.py.

# %% [markdown]
# # 05 · The encoder: from attention to BERT
#
# Notebook 04 built attention: every token looks at every other token and takes a weighted
# average of what it sees. On its own that is one step of mixing. A Transformer **encoder** wraps it
# into a layer that can be stacked many times: attention to mix information between positions, a
# small **feed-forward network** to process each position on its own, and around each of the two a
# **residual connection** and a **layer normalisation** that keep a deep stack trainable. Stack the
# layers, train them to fill in hidden words, and you have **BERT** (2018).
#
# | § | you implement in `course_lib/encoder.py` | what it is for |
# |---|---|---|
# | 1 | `LayerNorm.forward` | keep every token's vector at a stable scale |
# | 2 | `FeedForward.forward` | the per-position network, 512 → 2048 → 512 in the paper |
# | 3 | `EncoderLayer.forward_post_norm` | residual connections, normalise after (the 2017 paper, BERT) |
# | 4 | `EncoderLayer.forward_pre_norm` | residual connections, normalise before (GPT-2 and most models since) |
# | 5 | `Encoder` (`__init__`, `forward`) | a stack of layers, with a padding mask |
# | 6 | `mlm_corrupt` | BERT's masking: 15% of the tokens, 80% [MASK] / 10% random / 10% kept |
# | 7 | `mlm_loss` | the loss on the chosen positions only |
#
# Each piece is checked against PyTorch's own `nn.LayerNorm`, `nn.TransformerEncoderLayer` and
# `nn.TransformerEncoder`, loaded with the same weights. At the end you train a small BERT on the
# course's story world and measure it: fill in a blank, and tell a happy story from a sad one, each
# beside a baseline that knows no grammar. Then you look at what its attention heads learned.

# %% [setup]
from course_lib.checks import check
from course_lib import device

print(device.describe())

# %% [markdown]
# This notebook builds on **your** `MultiHeadAttention` from notebook 04 (every encoder layer has
# one). If notebook 04 is not finished yet, uncomment the line below to use the course's version of
# `course_lib/attention.py` for now (it works in a clone of the course, where `solutions/` exists),
# and run the notebook from the top again.

# %%
# from course_lib.earlier import use_reference; use_reference("attention")

# %% [markdown]
# The next cell imports what you will write. `autoreload` re-reads `course_lib/encoder.py` each
# time you run a cell, so you can edit the file and re-run a check without restarting the kernel.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.encoder

import collections
import math
import re
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import check_all, needs
from course_lib.data import MASK, masked_word_examples, story_label_examples
from course_lib.encoder import (
    BertConfig,
    Encoder,
    EncoderLayer,
    FeedForward,
    LayerNorm,
    MiniBERT,
    load_from_torch,
    mlm_corrupt,
    mlm_loss,
)
from course_lib.plots import attention_explorer, plot_heads

DEVICE = device.get_device()
MODE = device.run_mode()
SIZES = {
    # model and training of the small BERT; n_* are numbers of examples
    "smoke": dict(d_model=32, n_heads=2, n_layers=1, n_mlm=2_000, mlm_steps=60, batch=32, lr=3e-3,
                  n_stories=120, cls_steps=10, n_val=200, n_val_stories=60, n_pairs=400, order_steps=20,
                  depth=6),
    "quick": dict(d_model=64, n_heads=4, n_layers=2, n_mlm=20_000, mlm_steps=600, batch=64, lr=3e-3,
                  n_stories=600, cls_steps=40, n_val=1_000, n_val_stories=300, n_pairs=3_000, order_steps=150,
                  depth=12),
    "full": dict(d_model=128, n_heads=4, n_layers=4, n_mlm=60_000, mlm_steps=4_000, batch=128, lr=2e-3,
                 n_stories=2_000, cls_steps=200, n_val=2_000, n_val_stories=400, n_pairs=10_000, order_steps=600,
                 depth=24),
}[MODE]
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")
if DEVICE.type == "cpu":
    # more threads are not always faster for a small model (notebook 07): measure, keep the fastest
    device.configure_threads()

# %% [markdown]
# ## §1 Layer normalisation
#
# A vector that goes through many layers can drift: its numbers grow or shrink from layer to layer,
# and then the softmax of attention saturates and the gradients explode or vanish. **Layer
# normalisation** resets the scale of each token's vector: subtract its mean, divide by its
# standard deviation, both taken over the vector's own $d$ features,
#
# $$\mathrm{LayerNorm}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} \odot \gamma + \beta,
# \qquad \mu = \frac1d \sum_i x_i, \quad \sigma^2 = \frac1d \sum_i (x_i - \mu)^2,$$
#
# then scale and shift by two learned vectors $\gamma$ (`weight`, starts at ones) and $\beta$ (`bias`,
# starts at zeros), so that the layer can undo the normalisation where that helps. Three details
# decide whether you get PyTorch's numbers:
#
# * the statistics are over the **last** dimension, one mean and one variance per token. Batch
#   normalisation (used in image models) averages over the batch instead; then a token's output
#   would depend on the other sentences in its batch;
# * the variance divides by $d$, not $d - 1$ (the "biased" variance; `torch.var` divides by $d - 1$
#   unless told otherwise);
# * $\varepsilon$ goes inside the square root.
#
# **Your turn.** Implement `LayerNorm.forward(x)` in `course_lib/encoder.py` (`x` has shape
# `(..., d_model)`; the parameters are created for you in `__init__`).
#
# <details><summary>Hint 1</summary><code>x.mean(dim=-1, keepdim=True)</code> has shape <code>(..., 1)</code>: one mean per vector, ready to broadcast against <code>x</code>.</details>
# <details><summary>Hint 2</summary>The variance is the mean of the squared deviations <code>(x - mean) ** 2</code> over the same dimension (or <code>x.var(dim=-1, keepdim=True, unbiased=False)</code>).</details>
# <details><summary>Hint 3</summary><code>(x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias</code></details>

# %% [test encoder.layer_norm points=2 hidden]

# %% [markdown]
# Equal to PyTorch's, and what it does to a batch of vectors whose scales differ wildly (each row is
# one token): afterwards every row has mean 0 and standard deviation 1, whatever it started with.

# %%
with needs():
    x = torch.randn(4, 8) * torch.tensor([[0.1], [1.0], [10.0], [1000.0]]) + torch.tensor([[5.0], [0.0], [-3.0], [100.0]])
    ours = LayerNorm(8)(x)
    print("largest difference from nn.LayerNorm:", f"{(ours - nn.LayerNorm(8)(x)).abs().max().item():.2e}")
    print("before: mean per row", [f"{v:.3g}" for v in x.mean(-1).tolist()],
          " std per row", [f"{v:.3g}" for v in x.std(-1, correction=0).tolist()])
    print("after:  mean per row", [f"{v:.3g}" for v in ours.mean(-1).tolist()],
          " std per row", [f"{v:.3g}" for v in ours.std(-1, correction=0).tolist()])

# %% [markdown]
# ## §2 The position-wise feed-forward network
#
# Attention moves information *between* positions. Then each position thinks about what it gathered,
# on its own, with a two-layer network: widen the vector, apply a nonlinearity, project it back,
#
# $$\mathrm{FFN}(x) = W_2\, \mathrm{ReLU}(W_1 x + b_1) + b_2,$$
#
# with $d_{ff} = 4\, d_{model}$ (512 → 2048 → 512 in the paper). The same weights serve every
# position; nothing mixes positions here. BERT and GPT-2 use GELU, a smooth ReLU, instead.
#
# **Your turn.** Implement `FeedForward.forward(x)`. The layers `linear1`, `activation`, `dropout` and
# `linear2` are created in `__init__`. Dropout goes right after the activation (as in PyTorch's
# layer); it only acts in training mode.
#
# <details><summary>Hint 1</summary>Four modules, one after the other: which order gives "widen, nonlinearity, dropout, project back"?</details>
# <details><summary>Hint 2</summary>No residual connection here: the encoder layer (§3) adds the input back.</details>
# <details><summary>Hint 3</summary><code>return self.linear2(self.dropout(self.activation(self.linear1(x))))</code></details>

# %% [test encoder.feed_forward points=1 hidden]

# %% [markdown]
# Where the parameters of a layer of the paper's size live ($d_{model} = 512$, 8 heads, $d_{ff} = 2048$):

# %%
with needs():
    paper_layer = EncoderLayer(512, 8, 2048)
    parts = {"attention (Q, K, V, output projections)": paper_layer.self_attn,
             "feed-forward (512 -> 2048 -> 512)": paper_layer.ff,
             "two LayerNorms": nn.ModuleList([paper_layer.norm1, paper_layer.norm2])}
    total = sum(p.numel() for p in paper_layer.parameters())
    for name, part in parts.items():
        n = sum(p.numel() for p in part.parameters())
        print(f"{name:42s} {n:>10,}  ({n / total:.1%})")
    print(f"{'one encoder layer':42s} {total:>10,}")
    # Position-wise: change the token at position 2 only, and see which outputs move.
    ff = FeedForward(512, 2048).eval()
    tokens = torch.randn(1, 6, 512)
    changed = tokens.clone()
    changed[0, 2] += 1.0
    moved = (ff(tokens) - ff(changed)).abs().amax(dim=-1)[0]
    print("how much each position's output moves when only position 2 changes:", [f"{v:.2g}" for v in moved.tolist()])

# %% [markdown]
# The feed-forward network holds about two thirds of the layer's parameters (the cell above printed
# the split), and it really is position-wise: only position 2's output moved.
#
# ## §3 Residual connections, and the original post-norm layer
#
# A **residual connection** adds a sub-layer's input to its output: $x + \mathrm{Sublayer}(x)$. The
# sub-layer then only has to learn a *change* to $x$ (at the start, when it knows nothing, the layer
# is close to the identity instead of scrambling its input), and the gradient reaches early layers
# directly through the additions. *Attention Is All You Need* puts a LayerNorm **after** each
# addition ("post-norm"):
#
#     x = norm1(x + attention_block(x, padding_mask))
#     x = norm2(x + feed_forward_block(x))
#
# `attention_block` (self-attention with your 04 `MultiHeadAttention`, then dropout) and
# `feed_forward_block` (your `FeedForward`, then dropout) are written for you; so is `forward`, which
# calls `forward_post_norm` or `forward_pre_norm` depending on `norm_first`. The padding mask is a
# `(batch, seq)` bool tensor, True at real tokens: `attention_block` turns it into the key mask of
# notebook 04, so that no token attends to padding.
#
# **Your turn.** Implement `EncoderLayer.forward_post_norm(x, padding_mask=None)`.
#
# <details><summary>Hint 1</summary>Two lines, one per sub-layer. Each line: run the sub-layer, add its input, normalise.</details>
# <details><summary>Hint 2</summary>The second line starts from the output of the first.</details>
# <details><summary>Hint 3</summary><code>x = self.norm1(x + self.attention_block(x, padding_mask))</code>, then the same with <code>norm2</code> and <code>feed_forward_block</code>.</details>

# %% [test encoder.post_norm_layer points=2 hidden]

# %% [markdown]
# The check compared your layer with `nn.TransformerEncoderLayer` carrying the same weights.
# `load_from_torch` does the copying (PyTorch keeps the three projections Q, K, V in one matrix;
# the course keeps them apart). Here is the comparison at the paper's size, with padding:

# %%
with needs():
    torch_layer = nn.TransformerEncoderLayer(512, 8, 2048, dropout=0.0, batch_first=True).eval()
    our_layer = load_from_torch(EncoderLayer(512, 8, 2048), torch_layer).eval()
    x = torch.randn(2, 10, 512)
    real = torch.arange(10)[None, :] < torch.tensor([[10], [6]])          # True at the real tokens
    with torch.no_grad():
        theirs = torch_layer(x, src_key_padding_mask=~real)                # PyTorch's mask says True = ignore
        ours = our_layer(x, real)
    print("largest difference at the real tokens:", f"{(theirs - ours)[real].abs().max().item():.2e}")

# %% [markdown]
# ## §4 Pre-norm
#
# Post-norm puts a LayerNorm on the main path of the signal, between every layer and the next. In a
# deep stack that makes the first steps of training fragile: the original Transformer and BERT
# needed a learning-rate warm-up to train at all. GPT-2 and nearly every large model since move the
# normalisation **inside** the branch ("pre-norm"):
#
#     x = x + attention_block(norm1(x), padding_mask)
#     x = x + feed_forward_block(norm2(x))
#
# Now $x$ itself is never normalised on the way: it is a "residual stream" to which each sub-layer
# adds its contribution, and the gradient flows back along it untouched. (A pre-norm stack therefore
# needs one more LayerNorm at the very end: §5.)
#
# **Your turn.** Implement `EncoderLayer.forward_pre_norm(x, padding_mask=None)`.
#
# <details><summary>Hint 1</summary>Same two steps as §3; only the place of the norms changes.</details>
# <details><summary>Hint 2</summary>Add the sub-layer's output to <code>x</code>, not to <code>norm1(x)</code>: the normalised copy is only what the sub-layer reads.</details>
# <details><summary>Hint 3</summary><code>x = x + self.attention_block(self.norm1(x), padding_mask)</code>, then the same with <code>norm2</code> and <code>feed_forward_block</code>.</details>

# %% [test encoder.pre_norm_layer points=2 hidden]

# %% [markdown]
# ## §5 The encoder: a stack of layers
#
# An encoder is $N$ identical layers applied one after the other (6 in the paper, 12 in BERT-base;
# both are sized further down), each with its own weights, all reading the same padding mask. A
# pre-norm stack ends with a final LayerNorm (its residual stream was never normalised); a post-norm
# stack does not need one (its last layer ends with `norm2`). This is what
# `nn.TransformerEncoder(layer, N, norm=...)` computes.
#
# Two classic mistakes are about Python, not maths. `[layer] * n` is a list holding the **same**
# layer n times (one set of weights, used n times). And a plain Python list of modules is invisible to
# PyTorch: `.parameters()`, the optimiser, `.to(device)` and `state_dict()` would never see the layers.
# `nn.ModuleList` registers them.
#
# **Your turn.** Implement `Encoder.__init__` (create `self.layers` and `self.norm`) and
# `Encoder.forward(x, padding_mask=None)`.
#
# <details><summary>Hint 1</summary>A list comprehension creates a new <code>EncoderLayer</code> at each turn; pass every argument on (<code>dropout</code>, <code>norm_first</code>, <code>activation</code>, <code>bias</code>, <code>eps</code>).</details>
# <details><summary>Hint 2</summary><code>self.norm = LayerNorm(d_model, eps) if norm_first else None</code>.</details>
# <details><summary>Hint 3</summary>In <code>forward</code>: <code>for layer in self.layers: x = layer(x, padding_mask)</code>, then the final norm when <code>self.norm is not None</code>.</details>

# %% [test encoder.encoder_stack points=2 hidden]

# %% [markdown]
# **Padding changes nothing.** Sentences of different lengths share a batch by padding the short
# ones; thanks to the mask, a sentence's vectors are the same alone or padded in a batch:

# %%
with needs():
    encoder = Encoder(2, 32, 4, 64, norm_first=True).eval()
    short, long = torch.randn(1, 3, 32), torch.randn(1, 7, 32)
    batch = torch.cat([torch.cat([short, torch.zeros(1, 4, 32)], dim=1), long])   # (2, 7, 32)
    real = torch.tensor([[True] * 3 + [False] * 4, [True] * 7])
    with torch.no_grad():
        alone = encoder(short)
        padded = encoder(batch, real)[:1, :3]
        unmasked = encoder(batch)[:1, :3]
    print("short sentence alone vs padded in a batch, with the mask:   ",
          f"{(alone - padded).abs().max().item():.2e}")
    print("short sentence alone vs padded in a batch, WITHOUT the mask:",
          f"{(alone - unmasked).abs().max().item():.2e}")

# %% [markdown]
# **Why a pre-norm stack needs its final norm, measured.** Run a deep stack both ways on the same
# input and follow the size of the vector that flows from layer to layer (its norm, averaged over the
# tokens). A post-norm layer ends with a LayerNorm, so the vector leaves every layer at the same
# scale. In a pre-norm stack every layer *adds* to the residual stream and nothing normalises it:

# %%
with needs():
    depth = SIZES["depth"]
    torch.manual_seed(0)
    x = torch.randn(8, 16, 64)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for norm_first in (False, True):
        stack = Encoder(depth, 64, 4, 256, norm_first=norm_first).eval()
        h, sizes = x, [x.norm(dim=-1).mean().item()]
        with torch.no_grad():
            for layer in stack.layers:
                h = layer(h)
                sizes.append(h.norm(dim=-1).mean().item())
        name = "pre-norm" if norm_first else "post-norm"
        ax.plot(range(depth + 1), sizes, "o-", label=name)
        print(f"{name:9s} size of the vector entering layer 1: {sizes[0]:.1f}, leaving layer {depth}: {sizes[-1]:.1f}")
        if norm_first:
            print(f"{'':9s} after the stack's final LayerNorm: {stack(x).norm(dim=-1).mean().item():.1f}")
    ax.set_xlabel("layers passed")
    ax.set_ylabel("average norm of a token's vector")
    ax.set_title(f"the residual stream through {depth} layers (at initialisation)")
    ax.legend()
    plt.show()

# %% [markdown]
# The post-norm stack keeps every vector at the scale its LayerNorms set (about $\sqrt{d_{model}} = 8$
# here, with weight 1), while the pre-norm residual stream keeps growing with depth (the numbers
# above). Inside the layers that does no harm, since each sub-layer reads a normalised copy; but
# whatever reads the stack's output needs vectors at a known scale: hence the final LayerNorm.
#
# ## Where BERT sits among Transformers
#
# The same layers make three families of models. What differs is who may attend to whom, and what
# the model is trained to predict:
#
# | family | examples | attention | trained to | good at |
# |---|---|---|---|---|
# | **encoder-only** | BERT, RoBERTa | every token sees the whole text, left and right | fill in hidden words (masked LM) | understanding: classify, tag, compare texts |
# | **decoder-only** | GPT-2, GPT-4, Llama | each token sees only the tokens before it (causal mask) | predict the next token | generating text (notebook 06) |
# | **encoder-decoder** | the 2017 Transformer, T5 | an encoder reads the input; a causal decoder writes the output, attending to the encoder through cross-attention | map a text to a text (T5: fill in dropped spans) | translation, summarisation |
#
# An encoder sees everything at once, which makes its vectors good features for understanding a text,
# but it cannot write left to right: to generate, a model must not see the future it is predicting.
# Below, the two masks side by side (dark = may attend):

# %%
n = 6
fig, axes = plt.subplots(1, 2, figsize=(7, 3.3))
for ax, (title, mask) in zip(axes, [("encoder (BERT): full attention", torch.ones(n, n)),
                                     ("decoder (GPT): causal mask", torch.tril(torch.ones(n, n)))]):
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
plt.tight_layout()
plt.show()
with torch.device("meta"):  # sizes only: "meta" tensors have a shape but no memory
    with needs():
        for name, sizes in [("the 2017 paper's encoder", (6, 512, 8, 2048)), ("BERT-base's encoder", (12, 768, 12, 3072))]:
            n_layers, d_model, n_heads, d_ff = sizes
            n = sum(p.numel() for p in Encoder(*sizes).parameters())
            print(f"{name:25s} {n_layers:2d} layers, d_model {d_model}, {n_heads:2d} heads, d_ff {d_ff}: "
                  f"{n:>11,} parameters (plus the embeddings)")

# %% [markdown]
# ## §6 BERT's masked-language-model corruption
#
# BERT learns without labels, from raw text: hide some tokens and ask the model to recover them. For
# each sequence:
#
# 1. **choose** 15% of the positions (never padding or other special tokens);
# 2. of the chosen positions, replace **80%** by `[MASK]`, **10%** by a random token, and leave
#    **10%** unchanged;
# 3. the **labels** are the original tokens at the chosen positions and **-100** everywhere else.
#
# Why not always `[MASK]`? Fine-tuned models never see `[MASK]`: if the model only learned to repair
# `[MASK]` positions, its vectors for ordinary tokens would be less useful. Random and unchanged
# tokens force it to question *every* token, since any of them might be wrong or might be asked about.
#
# Randomness must be reproducible: every random number comes from the `generator` argument (use the
# provided `uniform_like(ids, generator)` and `random_tokens_like(ids, vocab_size, generator)`), so
# that the same seed gives the same corruption and nothing else is disturbed.
#
# **Your turn.** Implement `mlm_corrupt(ids, mask_id, vocab_size, *, generator=None, mask_prob=0.15,
# special_ids=())`, returning `(corrupted, labels)`.
#
# <details><summary>Hint 1</summary>One uniform number per position decides which positions are chosen (<code>&lt; mask_prob</code>); <code>torch.isin(ids, specials)</code> finds the special positions to leave out.</details>
# <details><summary>Hint 2</summary>A second uniform number per position splits the chosen ones: below 0.8 → mask, from 0.8 to 0.9 → random, above → keep. <code>torch.where(condition, a, b)</code> builds the result without touching <code>ids</code>.</details>
# <details><summary>Hint 3</summary><code>to_mask = chosen &amp; (u &lt; 0.8)</code>, <code>to_random = chosen &amp; (u &gt;= 0.8) &amp; (u &lt; 0.9)</code>; <code>labels = torch.where(chosen, ids, torch.full_like(ids, -100))</code>.</details>

# %% [test encoder.mlm_corrupt points=2 hidden]

# %% [markdown]
# Your corruption at work on a toy vocabulary: one sentence corrupted with three seeds (the chosen
# positions are marked with their label), then the proportions measured over a large random batch.

# %%
toy_words = ["[PAD]", "[UNK]", "[MASK]", "the", "dog", "bit", "cat", "saw", "a", "big", "small", "ran", "home", "."]
sentence = "the big dog saw a small cat . the cat ran home .".split()
toy_ids = torch.tensor([[toy_words.index(w) for w in sentence]])
with needs():
    for seed in range(3):
        corrupted, labels = mlm_corrupt(toy_ids, 2, len(toy_words), generator=torch.Generator().manual_seed(seed),
                                        mask_prob=0.3, special_ids=[0])
        shown = [toy_words[c] + (f"(<-{toy_words[l]})" if l != -100 else "")
                 for c, l in zip(corrupted[0].tolist(), labels[0].tolist())]
        print(f"seed {seed} (mask_prob 0.3 for the show): {' '.join(shown)}")
    many = torch.randint(3, 30_000, (256, 256), generator=torch.Generator().manual_seed(0))
    corrupted, labels = mlm_corrupt(many, 2, 30_000, generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    print(f"\nover {many.numel():,} random tokens: {chosen.float().mean():.1%} chosen; of those "
          f"{(corrupted[chosen] == 2).float().mean():.1%} [MASK], "
          f"{((corrupted[chosen] != 2) & (corrupted[chosen] != many[chosen])).float().mean():.1%} random, "
          f"{(corrupted[chosen] == many[chosen]).float().mean():.1%} unchanged")

# %% [markdown]
# ## §7 The loss on the chosen positions
#
# The model outputs a score for every word of the vocabulary at every position. The loss is the
# cross-entropy on the chosen positions **only**, averaged over them: the other positions were given to
# the model, and scoring them would reward copying. With labels at -100 elsewhere, `F.cross_entropy`'s
# `ignore_index=-100` skips them. One more case: a batch may contain no chosen position at all (short
# sentences, bad luck); the loss must then be 0, not 0/0 = NaN, which would ruin the weights.
#
# **Your turn.** Implement `mlm_loss(logits, labels)`: `logits` is `(..., vocab_size)`, `labels`
# is `(...)`.
#
# <details><summary>Hint 1</summary>Flatten: <code>logits.reshape(-1, vocab_size)</code> and <code>labels.reshape(-1)</code>.</details>
# <details><summary>Hint 2</summary><code>F.cross_entropy(..., ignore_index=-100, reduction="sum")</code> adds up the chosen positions' losses; count the chosen positions yourself.</details>
# <details><summary>Hint 3</summary>Divide the sum by <code>(labels != -100).sum().clamp(min=1)</code>.</details>

# %% [test encoder.mlm_loss points=1 hidden]

# %% [markdown]
# ## A small BERT for the course's world
#
# Time to train. `MiniBERT` (given, in `course_lib/encoder.py`) is token embeddings + learned
# positions (notebooks 02 and 03), your `Encoder`, and two heads: one predicting a word at every
# position (for masked LM), one classifying the whole text from the average of its vectors.
#
# The data comes from the course's story world (`course_lib.data`): sentences for fill-in-the-blank,
# stories labelled with a happy or sad ending. Since a blank hides one whole word, the model reads
# **words**, not subword tokens: a vocabulary of every word of the training texts, plus `[PAD]`,
# `[UNK]` (a word never seen in training) and `[MASK]`. (BERT itself uses WordPiece subwords, the
# cousin of notebook 01's BPE.)

# %%
TOKEN_RE = re.compile(r"\[MASK\]|[A-Za-z]+|'s|[,.!?]")
PAD, UNK, MASK_ID = 0, 1, 2
train_blanks = masked_word_examples(SIZES["n_mlm"], split="train")
val_blanks = masked_word_examples(SIZES["n_val"], split="val")
train_stories = story_label_examples(SIZES["n_stories"], split="train")
val_stories = story_label_examples(SIZES["n_val_stories"], split="val")

word_counts = collections.Counter(w for e in train_blanks for w in TOKEN_RE.findall(e.sentence))
word_counts.update(w for s in train_stories for w in TOKEN_RE.findall(s.text))
itos = ["[PAD]", "[UNK]", MASK] + sorted(word_counts)
stoi = {w: i for i, w in enumerate(itos)}
V = len(itos)


def encode(text):
    """Word ids of a text ("[MASK]" becomes MASK_ID, unknown words UNK)."""
    return [stoi.get(w, UNK) for w in TOKEN_RE.findall(text)]


def pad_batch(seqs):
    """A list of id lists -> ids (batch, longest) padded with PAD, and the padding mask (True = real)."""
    ids = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, :len(seq)] = torch.tensor(seq)
    return ids, ids != PAD


train_sentences, _ = pad_batch([encode(e.sentence) for e in train_blanks])   # the full sentences, for MLM
sentence_lengths = (train_sentences != PAD).sum(dim=1)
print(f"vocabulary: {V} words; {len(train_blanks):,} training sentences "
      f"(up to {train_sentences.shape[1]} words), {len(val_blanks):,} held-out blanks; "
      f"{len(train_stories)} training stories, {len(val_stories)} held-out stories")
for example in val_blanks[:3]:
    print(f"  {example.text!r:55} -> {example.answer!r}")

# %% [markdown]
# A held-out blank comes from a sentence that never occurs in the training sentences (the split is
# made by sentence). Two baselines that know no grammar: always answer the **most frequent** missing
# word of the training data, and answer the word most often missing **after the same previous word**.

# %%
answer_counts = collections.Counter(e.answer for e in train_blanks)
most_frequent = answer_counts.most_common(1)[0][0]
after_word = collections.defaultdict(collections.Counter)


def previous_word(text):
    words = TOKEN_RE.findall(text)
    at = words.index(MASK)
    return words[at - 1] if at > 0 else "<start>"


for e in train_blanks:
    after_word[previous_word(e.text)][e.answer] += 1


def bigram_guess(text):
    counter = after_word.get(previous_word(text))
    return counter.most_common(1)[0][0] if counter else most_frequent


baseline_frequent = sum(e.answer == most_frequent for e in val_blanks) / len(val_blanks)
baseline_bigram = sum(e.answer == bigram_guess(e.text) for e in val_blanks) / len(val_blanks)
print(f"always {most_frequent!r}:                    {baseline_frequent:.1%} of the held-out blanks")
print(f"most frequent after the previous word: {baseline_bigram:.1%}")

# %% [markdown]
# ### Pre-training with masked LM
#
# Each step takes a batch of sentences, corrupts it with your `mlm_corrupt` and scores the model
# with your `mlm_loss`. The optimiser is AdamW with a short warm-up and a cosine decay (notebook 07
# explains both). The model is pre-norm (it trains more easily from scratch; BERT itself is post-norm).

# %%
config = BertConfig(vocab_size=V, max_len=192, d_model=SIZES["d_model"], n_heads=SIZES["n_heads"],
                    n_layers=SIZES["n_layers"], dropout=0.0, norm_first=True)
bert = None
mlm_losses = []
with needs():
    torch.manual_seed(0)
    bert = MiniBERT(config).to(DEVICE)
    print(f"MiniBERT: {bert.num_parameters():,} parameters ({config.n_layers} layers, d_model {config.d_model}, "
          f"{config.n_heads} heads, d_ff {config.d_ff})")
    optimizer = torch.optim.AdamW(bert.parameters(), lr=SIZES["lr"], weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    steps, batch_size = SIZES["mlm_steps"], SIZES["batch"]
    started = time.perf_counter()
    for step in range(steps):
        rows = torch.randint(len(train_sentences), (batch_size,), generator=generator)
        ids = train_sentences[rows, :int(sentence_lengths[rows].max())].to(DEVICE)   # trim the padding
        inputs, labels = mlm_corrupt(ids, MASK_ID, V, generator=generator, special_ids=[PAD])
        for group in optimizer.param_groups:  # warm-up over 50 steps, then cosine decay
            group["lr"] = SIZES["lr"] * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = mlm_loss(bert.mlm_logits(inputs, ids != PAD), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        mlm_losses.append(loss.item())
        if step % max(1, steps // 6) == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  ({time.perf_counter() - started:.0f} s)")
    mlm_seconds = time.perf_counter() - started
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(mlm_losses, lw=0.6, alpha=0.5, label="batch loss")
    window = max(1, steps // 20)
    smooth = [sum(mlm_losses[max(0, i - window + 1): i + 1]) / len(mlm_losses[max(0, i - window + 1): i + 1])
              for i in range(len(mlm_losses))]
    ax.plot(smooth, label=f"average of {window} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("masked-LM loss")
    ax.legend()
    plt.show()


def need_bert():
    """Skip the rest of a cell, with a message, when the model above could not be trained."""
    if bert is None:
        raise NotImplementedError("the MiniBERT above, which needs every part of §1-§7")


# %% [markdown]
# ### Fill in the blank, measured
#
# For each held-out sentence the model reads the sentence with `[MASK]` in place of the word, and its
# guess is the highest-scoring word at that position (special tokens excluded).

# %%
def blank_scores(texts):
    """(n, V) scores of every word for the [MASK] position of each text."""
    ids, mask = pad_batch([encode(t) for t in texts])
    ids, mask = ids.to(DEVICE), mask.to(DEVICE)
    with torch.no_grad():
        logits = bert.mlm_logits(ids, mask)                                  # (n, T, V)
    where = (ids == MASK_ID).float().argmax(dim=1)                           # the [MASK] position of each row
    scores = logits[torch.arange(len(texts), device=DEVICE), where].float().cpu()
    scores[:, :3] = float("-inf")                                            # never guess [PAD], [UNK], [MASK]
    return scores


with needs():
    need_bert()
    bert.eval()
    guesses = []
    for start in range(0, len(val_blanks), 256):
        chunk = val_blanks[start:start + 256]
        guesses += [itos[i] for i in blank_scores([e.text for e in chunk]).argmax(dim=1).tolist()]
    fill_accuracy = sum(g == e.answer for g, e in zip(guesses, val_blanks)) / len(val_blanks)
    print(f"MiniBERT after {len(mlm_losses)} steps ({mlm_seconds:.0f} s): {fill_accuracy:.1%} of the held-out blanks")
    print(f"  baselines: always {most_frequent!r} {baseline_frequent:.1%}, "
          f"most frequent after the previous word {baseline_bigram:.1%}")
    by_kind = collections.defaultdict(list)
    for g, e in zip(guesses, val_blanks):
        kind = "a name" if e.answer[0].isupper() else "another word"   # only names are capitalised blanks
        by_kind[kind].append(g == e.answer)
    for kind, hits in sorted(by_kind.items()):
        print(f"  when the missing word is {kind}: {sum(hits) / len(hits):.1%} of {len(hits)}")
    print()
    scores = blank_scores([e.text for e in val_blanks[:10]])
    top = scores.softmax(dim=-1).topk(3, dim=-1)
    for e, p, i in zip(val_blanks[:10], top.values, top.indices):
        mark = "✓" if itos[int(i[0])] == e.answer else "✗"
        options = ", ".join(f"{itos[int(k)]} {float(q):.0%}" for q, k in zip(p, i))
        print(f"{mark} {e.text:50s} answer {e.answer!r:12s} model: {options}")

# %% [markdown]
# Names are the hard part: "There was a girl named [MASK]." has many right answers, and one sentence
# alone rarely tells which (the cell above printed the accuracy for names and for other words
# separately). Other words follow from grammar and from the world's facts. Try your own sentences
# (one `[MASK]` each; words the model never saw become `[UNK]`):

# %%
def fill_in(sentence="Mia went to the [MASK] with her dog."):
    if sentence.count(MASK) != 1:
        print(f"Write exactly one {MASK} in the sentence.")
        return
    unknown = [w for w in TOKEN_RE.findall(sentence) if w != MASK and w not in stoi]
    scores = blank_scores([sentence])[0].softmax(dim=-1)
    top = scores.topk(8)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.barh([itos[int(i)] for i in top.indices][::-1], top.values.tolist()[::-1])
    ax.set_xlabel("probability")
    ax.set_title(sentence + (f"   (unknown: {', '.join(unknown)})" if unknown else ""), fontsize=9)
    plt.show()


with needs():
    need_bert()
    display(widgets.interactive(fill_in, sentence=widgets.Text(value="Mia went to the [MASK] with her dog.",
                                                               continuous_update=False,
                                                               layout=widgets.Layout(width="80%"))))

# %% [markdown]
# ### Fine-tuning: a happy or a sad ending?
#
# BERT's recipe: pre-train once with masked LM, then **fine-tune** the whole model with a small new
# head for each task. Here the head is a linear layer on the *pooled* output (the average of the
# vectors of the story's real tokens) with two outputs, sad and happy, trained with cross-entropy on
# labelled stories. Beside it, two baselines: the **majority class**, and a **bag-of-words** model, a
# logistic regression on the counts of each word in the story, blind to word order.

# %%
def bag_of_words(texts):
    counts = torch.zeros(len(texts), V)
    for row, text in enumerate(texts):
        for i in encode(text):
            counts[row, i] += 1
    return counts


train_labels = torch.tensor([s.label for s in train_stories])
val_labels = torch.tensor([s.label for s in val_stories])
majority = int(train_labels.float().mean() >= 0.5)
majority_accuracy = (val_labels == majority).float().mean().item()

torch.manual_seed(0)
bow = nn.Linear(V, 2)
bow_optimizer = torch.optim.Adam(bow.parameters(), lr=0.05)
x_train, x_val = bag_of_words([s.text for s in train_stories]), bag_of_words([s.text for s in val_stories])
for _ in range(200):
    bow_loss = F.cross_entropy(bow(x_train), train_labels) + 1e-3 * bow.weight.pow(2).sum()
    bow_optimizer.zero_grad()
    bow_loss.backward()
    bow_optimizer.step()
with torch.no_grad():
    bow_accuracy = (bow(x_val).argmax(dim=1) == val_labels).float().mean().item()
story_lengths = [len(encode(s.text)) for s in train_stories]
print(f"stories: {min(story_lengths)}-{max(story_lengths)} words; "
      f"{int(train_labels.sum())} happy and {int((1 - train_labels).sum())} sad in training")
print(f"majority class ({['sad', 'happy'][majority]}): {majority_accuracy:.1%}    bag of words: {bow_accuracy:.1%}")


# %%
def classify_accuracy(model, texts, labels):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            ids, mask = pad_batch([encode(t) for t in texts[start:start + 64]])
            predicted = model.classify(ids.to(DEVICE), mask.to(DEVICE)).argmax(dim=1).cpu()
            correct += int((predicted == labels[start:start + 64]).sum())
    return correct / len(texts)


def fine_tune(model, texts, labels, steps, lr=1e-3, batch_size=32, seed=0):
    """Train `model.classify` with cross-entropy on (texts, labels); returns the losses."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        rows = torch.randint(len(texts), (batch_size,), generator=generator)
        ids, mask = pad_batch([encode(texts[int(r)]) for r in rows])
        loss = F.cross_entropy(model.classify(ids.to(DEVICE), mask.to(DEVICE)), labels[rows].to(DEVICE))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


classifier = None
with needs():
    need_bert()
    classifier = MiniBERT(config).to(DEVICE)
    classifier.load_state_dict(bert.state_dict())          # start from the pre-trained encoder
    started = time.perf_counter()
    cls_losses = fine_tune(classifier, [s.text for s in train_stories], train_labels, SIZES["cls_steps"])
    story_accuracy = classify_accuracy(classifier, [s.text for s in val_stories], val_labels)
    print(f"fine-tuned MiniBERT, {len(cls_losses)} steps ({time.perf_counter() - started:.0f} s): "
          f"{story_accuracy:.1%} of the held-out stories   "
          f"(majority class {majority_accuracy:.1%}, bag of words {bow_accuracy:.1%})")
    print("loss at the first and last steps:", f"{cls_losses[0]:.3f} -> {cls_losses[-1]:.3f}")

# %% [markdown]
# Compare the three accuracies printed above. The bag of words does very well here: the ending of a
# story uses its own words (*lonely*, *alone*, *could not find*... against *smiled*, *everyone was
# happy*), so word counts alone give the label away. A task that needs **order** is where the
# encoder earns its keep. Take the last sentence of a happy story and the last sentence of a sad
# story, put them one after the other in a random order, and ask: *is the second one the happy one?*
# Both orders contain exactly the same words, so a bag of words cannot do better than a coin; a model
# with positions can.

# %%
def last_sentence(text):
    return re.findall(r"[^.!?]+[.!?]", text)[-1].strip()


def order_pairs(stories, n, seed):
    """n pairs "<ending> <ending>", label 1 when the happy ending comes second."""
    happy = [last_sentence(s.text) for s in stories if s.label == 1]
    sad = [last_sentence(s.text) for s in stories if s.label == 0]
    generator = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for _ in range(n):
        h = happy[int(torch.randint(len(happy), (1,), generator=generator))]
        s = sad[int(torch.randint(len(sad), (1,), generator=generator))]
        second_is_happy = int(torch.randint(2, (1,), generator=generator))
        texts.append(f"{s} {h}" if second_is_happy else f"{h} {s}")
        labels.append(second_is_happy)
    return texts, torch.tensor(labels)


order_train, order_train_labels = order_pairs(train_stories, SIZES["n_pairs"], seed=1)
order_val, order_val_labels = order_pairs(val_stories, max(200, SIZES["n_pairs"] // 5), seed=2)
print("example:", order_train[0], "->", "second is happy" if order_train_labels[0] else "second is sad")

torch.manual_seed(0)
order_bow = nn.Linear(V, 2)
order_bow_optimizer = torch.optim.Adam(order_bow.parameters(), lr=0.05)
xo_train, xo_val = bag_of_words(order_train), bag_of_words(order_val)
for _ in range(200):
    loss = F.cross_entropy(order_bow(xo_train), order_train_labels)
    order_bow_optimizer.zero_grad()
    loss.backward()
    order_bow_optimizer.step()
with torch.no_grad():
    order_bow_accuracy = (order_bow(xo_val).argmax(dim=1) == order_val_labels).float().mean().item()
order_majority = max(order_val_labels.float().mean().item(), 1 - order_val_labels.float().mean().item())

with needs():
    need_bert()
    order_model = MiniBERT(config).to(DEVICE)
    order_model.load_state_dict(bert.state_dict())
    fine_tune(order_model, order_train, order_train_labels, SIZES["order_steps"])
    order_accuracy = classify_accuracy(order_model, order_val, order_val_labels)
    print(f"which ending comes second? held-out pairs: MiniBERT {order_accuracy:.1%}, "
          f"bag of words {order_bow_accuracy:.1%}, majority class {order_majority:.1%}")

# %% [markdown]
# ## What a trained head attends to
#
# Each head of each layer produced a full attention map for every sentence. Here are all the heads of
# the fill-in-the-blank model on one held-out sentence (a row is a query, "who is looking"; a column a
# key, "who is looked at"; each row sums to 1). Look at the `[MASK]` row: which words does the model
# consult to guess the missing one?

# %%
def sentence_attention(sentence):
    """(tokens, weights (n_layers, n_heads, n, n)) of the fill-in-the-blank model on one sentence."""
    ids = torch.tensor([encode(sentence)], device=DEVICE)
    maps = bert.attention_maps(ids)                                     # list of (1, H, n, n)
    tokens = [itos[i] for i in ids[0].tolist()]
    return tokens, torch.stack([m[0] for m in maps]).cpu()


with needs():
    need_bert()
    example = val_blanks[1].text
    tokens, weights = sentence_attention(example)
    for layer in range(config.n_layers):
        plot_heads(weights[layer], tokens, title=f"layer {layer}: {example}", size=2.6)
        plt.show()

# %% [markdown]
# Do heads specialise? A head may, for instance, look mostly at the word just **before** or just
# **after** each token: it then reads a position rather than a content. Measured over held-out
# sentences, for each head: how often is a token's strongest attention on the previous word, on
# itself, or on the next word? The last line gives the chance level (a head that picked a word at
# random), to compare with.

# %%
with needs():
    need_bert()
    ids, mask = pad_batch([encode(e.text) for e in val_blanks[:300]])
    maps = bert.attention_maps(ids.to(DEVICE), mask.to(DEVICE))
    n_tokens = mask.sum()
    positions = torch.arange(ids.shape[1])
    print(f"{'':16s} {'previous word':>14s} {'itself':>8s} {'next word':>10s}")
    for layer, layer_map in enumerate(maps):
        strongest = layer_map.cpu().argmax(dim=-1)                      # (n, H, T): the key each query looks at most
        for head in range(config.n_heads):
            offset = strongest[:, head] - positions                     # -1 = previous word, 0 = itself, +1 = next
            share = [((offset == d) & mask).sum().item() / n_tokens.item() for d in (-1, 0, 1)]
            print(f"layer {layer} head {head}   {share[0]:>13.0%} {share[1]:>8.0%} {share[2]:>10.0%}")
    chance = (mask.float() / mask.sum(dim=1, keepdim=True)).sum().item() / n_tokens.item()   # mean of 1/length
    print(f"{'chance':16s} {chance:>13.0%} {chance:>8.0%} {chance:>10.0%}")

# %% [markdown]
# Explore: pick a sentence, a layer and a head (or all heads of a layer).

# %%
with needs():
    need_bert()
    explorer_sentences = [e.text for e in val_blanks[:12]] + [
        "Mia went to the [MASK] with her dog.", "There was a boy named [MASK].", "The cat [MASK] the dog."]
    display(attention_explorer(sentence_attention, explorer_sentences, config.n_layers, config.n_heads))

# %% [markdown]
# ## Summary
#
# * **LayerNorm** normalises each token's vector over its own features (biased variance, ε inside the
#   root), then scales and shifts it.
# * The **feed-forward network** processes every position separately: 512 → 2048 → 512 in the paper,
#   two thirds of a layer's parameters.
# * **Residual connections** add each sub-layer's output to its input. **Post-norm** normalises the sum
#   (the 2017 paper, BERT); **pre-norm** normalises the sub-layer's input and leaves the residual
#   stream alone, which keeps the gradients even across a deep stack.
# * An **encoder** is a stack of distinct layers sharing one padding mask (plus a final norm when
#   pre-norm): equal to `nn.TransformerEncoder` with the same weights.
# * **BERT** is an encoder trained by masked LM: 15% of the tokens chosen, 80/10/10, loss on those
#   only. Its vectors then serve other tasks after fine-tuning, and its attention, unlike a bag of
#   words, knows the order of the words.
#
# Next, notebook 06 turns the encoder around: a causal mask, cross-attention and a decoder-only GPT
# that writes text. A last look at all the checks of this notebook:

# %%
check_all("encoder");
