# Notebook 06 of the course: the decoder. Percent format: see grading/build.py.

# %% [markdown]
# # 06 · The decoder: a Transformer that writes
#
# The encoder of notebook 05 reads a whole text at once and gives every token a vector that knows
# its context. A **decoder** does something that looks harder: it *writes*. At every position it
# gives a probability to each token of the vocabulary to come next; generating a text is then a
# loop: read what is written so far, pick the next token from that distribution, append it, repeat.
# That loop, with a large enough decoder trained on enough text, is GPT.
#
# Surprisingly little changes from 05: one mask, so that a position cannot see the future, and a
# last step that turns a vector into a next-token distribution (a linear layer + a softmax). The rest
# of this notebook is about what to do with that distribution, and about doing it fast.
#
# | § | you implement in `course_lib/decoder.py` | what it is for |
# |---|---|---|
# | 1 | `Block.forward` | the GPT block: causal self-attention and an MLP, pre-norm |
# | 2 | `GPT` (`__init__`, `features`) | embeddings (02, 03), blocks, final norm, LM head with weight tying |
# | 3 | `GPT.num_parameters` | how big the model is (a shared matrix counts once) |
# | 4 | `next_token_probs` | the last step: scores → a distribution over the vocabulary, with a temperature |
# | 5 | `top_k_filter`, `top_p_filter` | cut the unlikely tail: keep the k best, or the smallest set with mass ≥ p |
# | 6 | `sample_next_token` | greedy or random, reproducible with a seed |
# | 7 | `KVCache.update` | remember the keys and values of the past: generation many times faster |
# | 8 | `DecoderLayer.forward` | the decoder of the original Transformer, with cross-attention to an encoder |
#
# On the way you train a small character-level GPT on the course's stories (a short run; notebook 07
# trains the real one), explore its next-token distributions, generate with sliders, measure the
# KV cache's speed-up, and train an encoder–decoder to turn a statement into a question about it.

# %% [setup]
from course_lib.checks import check
from course_lib import device

print(device.describe())

# %% [markdown]
# This notebook builds on your earlier modules: `MultiHeadAttention` (04), `LayerNorm` and
# `FeedForward` (05), `Embedding` (02) and `LearnedPositionalEmbedding` (03). If one of them is not
# finished yet, uncomment the matching line below to use the course's version for now (it works in
# a clone of the course, where `solutions/` exists), and run the notebook from the top again.

# %%
# from course_lib.earlier import use_reference; use_reference("attention")
# from course_lib.earlier import use_reference; use_reference("encoder")
# from course_lib.earlier import use_reference; use_reference("embeddings")
# from course_lib.earlier import use_reference; use_reference("positional")

# %% [markdown]
# The next cell imports what you will write and what is given. `autoreload` re-reads
# `course_lib/decoder.py` each time you run a cell, so you can edit the file and re-run a check
# without restarting the kernel.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.decoder

import math
import random
import re
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import check_all, needs
from course_lib.data import World, corpus, grammar_report, vocabulary, word_tokens
from course_lib.decoder import (
    GPT,
    Block,
    DecoderLayer,
    EncoderDecoder,
    GPTConfig,
    KVCache,
    load_from_torch,
    next_token_probs,
    sample_next_token,
    top_k_filter,
    top_p_filter,
)
from course_lib.plots import attention_heatmap, plot_heads

DEVICE = device.get_device()
MODE = device.run_mode()
SIZES = {
    # the small character-level GPT; the KV-cache measurement; the statement -> question task
    "smoke": dict(text="tiny", d_model=32, n_layer=1, n_head=2, block=64, steps=25, batch=16, lr=3e-3,
                  sample_chars=120, kv_new=48, s2q_worlds=2, s2q_d=32, s2q_steps=20, s2q_batch=32),
    "quick": dict(text="small", d_model=96, n_layer=3, n_head=4, block=64, steps=350, batch=32, lr=3e-3,
                  sample_chars=600, kv_new=512, s2q_worlds=6, s2q_d=64, s2q_steps=300, s2q_batch=64),
    "full": dict(text="default", d_model=256, n_layer=6, n_head=8, block=128, steps=3000, batch=64, lr=1e-3,
                 sample_chars=2000, kv_new=512, s2q_worlds=12, s2q_d=128, s2q_steps=2000, s2q_batch=128),
}[MODE]
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")
if DEVICE.type == "cpu":
    # more threads are not always faster for a small model (notebook 07): measure, keep the fastest
    device.configure_threads()

# %% [markdown]
# ## §1 The GPT block: attention that cannot see the future
#
# A language model is trained to predict, at **every** position t of a text, the token at t + 1.
# One forward pass over a text of T tokens gives T predictions at once, so one text trains T
# predictions. There is a catch: in 05's encoder every token sees every token, so position t would
# simply *read* token t + 1, the answer it must predict. The fix is the **causal mask** of notebook
# 04: query t may attend to keys 0 … t only.
#
# $$\text{allowed}[t, j] = (j \le t) \qquad\text{(a lower triangle, diagonal included)}$$
#
# With it, the vector of token t depends on tokens 0 … t only. Besides making training honest, this
# will matter twice more below: generation (the prediction for the next token only needs the last
# position) and the KV cache (the past never changes, so it can be stored).
#
# A GPT block is otherwise 05's **pre-norm** encoder layer, with 05's `FeedForward` (GELU, as GPT-2)
# as its "MLP":
#
# $$x \leftarrow x + \mathrm{attn}(\mathrm{norm}_1(x),\ \text{causal}) \qquad x \leftarrow x + \mathrm{mlp}(\mathrm{norm}_2(x))$$
#
# (each branch through `self.dropout` before it is added). The block's parts are created for you in
# `__init__`: `norm1`, `attn` (your 04 attention, with a few additions for §7), `norm2`, `mlp`.
#
# **Your turn.** Implement `Block.forward(x, *, kv_cache=None)` in `course_lib/decoder.py`. Pass
# `kv_cache` on to the attention untouched (it is `None` until §7).
#
# <details><summary>Hint 1</summary>Your <code>MultiHeadAttention</code> from 04 takes <code>is_causal=True</code>: it builds the lower-triangular mask itself.</details>
# <details><summary>Hint 2</summary>Two lines, each of the form <code>x = x + self.dropout(branch(self.normK(x)))</code>.</details>
# <details><summary>Hint 3</summary><code>x = x + self.dropout(self.attn(self.norm1(x), is_causal=True, kv_cache=kv_cache))</code>, then the same with <code>self.mlp</code> and <code>self.norm2</code>.</details>

# %% [test decoder.block points=3 hidden]

# %% [markdown]
# Two things to see. First, the block is PyTorch's own `nn.TransformerEncoderLayer` (pre-norm, GELU)
# run with a causal mask: `load_from_torch` copies its weights into your block. Second, the causal
# property itself: change the input at position 5 and look at which outputs move.

# %%
with needs():
    config = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=4, d_model=32)
    torch_layer = nn.TransformerEncoderLayer(32, 4, 128, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True)
    block = load_from_torch(Block(config), torch_layer).eval()
    x = torch.randn(1, 10, 32)
    causal = nn.Transformer.generate_square_subsequent_mask(10)
    with torch.no_grad():
        same = (block(x) - torch_layer(x, src_mask=causal, is_causal=True)).abs().max().item()
        changed = x.clone()
        changed[0, 5] = torch.randn(32)                        # another token at position 5, nothing else
        moved = (block(changed) - block(x)).abs().amax(dim=-1)[0]
    print(f"largest difference from nn.TransformerEncoderLayer with a causal mask: {same:.2e}")
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.bar(range(10), moved.numpy(), color=["tab:gray" if t < 5 else "tab:red" for t in range(10)])
    ax.set_xlabel("position")
    ax.set_ylabel("largest change (log scale)")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_title("changing the input at position 5: outputs 0-4 do not move, 5-9 do")
    plt.show()
    print("largest change at each position:", [f"{v:.1e}" for v in moved.tolist()])

# %% [markdown]
# ## §2 The GPT: embeddings, blocks, a final norm, and a head tied to the embedding
#
# The whole model (GPT-2's architecture, small):
#
# ```
# idx (B, T) ─► tok_emb(idx) + pos_emb[0..T-1] ─► drop ─► blocks[0] … blocks[n_layer-1] ─► norm ─► features (B, T, d_model)
#                                                                                                      │
#                                                       lm_head: scores of every token of the vocabulary ◄┘   logits (B, T, vocab)
# ```
#
# * `tok_emb`: your `Embedding(vocab_size, d_model)` from 02; `pos_emb`: your
#   `LearnedPositionalEmbedding(block_size, d_model)` from 03. Add the token vectors and the rows
#   `pos_emb.weight[start : start + T]` of the positions (`start` is 0 until §7 introduces the cache).
# * `blocks`: an `nn.ModuleList` of `n_layer` separate `Block`s; `norm`: a final `FusedLayerNorm`
#   (05's `LayerNorm` on PyTorch's fused kernel): pre-norm blocks never normalise their output.
# * `lm_head`: `nn.Linear(d_model, vocab_size, bias=False)`. The score of token $i$ is the dot product
#   of the final vector with row $i$ of its weight, a $(\text{vocab}, d_{model})$ matrix: the same
#   shape as the embedding table. **Weight tying** uses one matrix for both: the row that *reads*
#   token $i$ in is the row that *scores* token $i$ on the way out. It saves `vocab × d_model`
#   parameters (a large share of a small model with a big vocabulary: §3 counts them for GPT-2
#   small) and usually helps small models. Tying
#   means sharing the very same `nn.Parameter` object: `self.lm_head.weight = self.tok_emb.weight`;
#   a copy would be trained as a second, separate matrix.
#
# **Your turn.** In `GPT.__init__`, create the parts listed in the class docstring (with
# `config.tie_weights`, tie the head); in `GPT.features(idx, *, kv_cache=None)`, run them in order and
# return the output of the final norm. `forward` (given) applies the head: `lm_head(features(idx))`.
#
# <details><summary>Hint 1</summary>The sizes are in <code>config</code>: <code>vocab_size</code>, <code>block_size</code>, <code>d_model</code>, <code>n_layer</code>, <code>dropout</code>. A Python list of blocks would be invisible to <code>.parameters()</code>: use <code>nn.ModuleList</code>.</details>
# <details><summary>Hint 2</summary>In <code>features</code>: <code>x = self.drop(self.tok_emb(idx) + self.pos_emb.weight[start:start + T])</code>, then every block, then <code>self.norm</code>.</details>
# <details><summary>Hint 3</summary>With a cache, block <code>i</code> gets <code>kv_cache[i]</code>; without one, <code>kv_cache=None</code>: <code>zip(self.blocks, kv_cache or [None] * len(self.blocks))</code>.</details>

# %% [test decoder.gpt points=3 hidden]

# %%
with needs():
    tiny = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, d_model=16))
    logits = tiny(torch.randint(0, 50, (3, 7)))
    print("logits:", tuple(logits.shape), "= (batch, seq, vocab)")
    print("lm_head.weight is tok_emb.weight:", tiny.lm_head.weight is tiny.tok_emb.weight)
    print(tiny)

# %% [markdown]
# ## §3 How big is it?
#
# `num_parameters()` counts the numbers the model learns. Two details. A tied matrix is *one*
# parameter: `model.parameters()` lists it once (while `state_dict()` lists it under both names).
# And by default we leave out the **embedding tables** (tokens, positions, and an untied head), as
# the scaling laws of Kaplan et al. (2020) do: a lookup costs almost no computation, so the
# "non-embedding" count is the one that predicts the compute of a forward pass (about 2 FLOPs per
# parameter per token, notebook 07). `num_parameters(non_embedding=False)` counts everything.
#
# **Your turn.** Implement `GPT.num_parameters(non_embedding=True)`.
#
# <details><summary>Hint 1</summary><code>p.numel()</code> is the number of entries of a tensor; sum it over <code>self.parameters()</code>.</details>
# <details><summary>Hint 2</summary>Subtract <code>tok_emb.weight.numel()</code> and <code>pos_emb.weight.numel()</code>, and the head's weight only when it is <em>not</em> the embedding's (<code>is not</code>).</details>

# %% [test decoder.num_parameters points=2 hidden]

# %% [markdown]
# Where the parameters of the course's GPT (the sizes notebook 07 trains) sit, and GPT-2 small built
# on PyTorch's "meta" device (shapes only, no memory) to count its parameters the same way:

# %%
with needs():
    course = GPT(GPTConfig(vocab_size=1024))
    parts = {"token embedding (tied head)": course.tok_emb.weight.numel(),
             "position embedding": course.pos_emb.weight.numel(),
             "attention (all blocks)": sum(p.numel() for b in course.blocks for p in b.attn.parameters()),
             "MLP (all blocks)": sum(p.numel() for b in course.blocks for p in b.mlp.parameters()),
             "LayerNorms": sum(p.numel() for n, p in course.named_parameters() if "norm" in n)}
    for name, n in parts.items():
        print(f"{name:28} {n:>10,}")
    print(f"{'total':28} {course.num_parameters(non_embedding=False):>10,}   non-embedding: "
          f"{course.num_parameters():,}")
    with torch.device("meta"):
        gpt2 = GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, d_model=768))
    print(f"GPT-2 small: {gpt2.num_parameters(non_embedding=False):,} parameters, "
          f"{gpt2.num_parameters():,} without the embeddings; its token table (tied to the head) alone holds "
          f"{gpt2.tok_emb.weight.numel():,}, which an untied head would need a second time")

# %% [markdown]
# ## §4 The last step: from a vector to a next-token distribution
#
# The head gives one score (a *logit*) per token of the vocabulary. A **softmax** turns the scores
# of one position into probabilities, $p_i = e^{z_i} / \sum_j e^{z_j}$. Generation adds one knob,
# the **temperature** $T$: divide the scores by $T$ *before* the softmax,
#
# $$p_i(T) = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}.$$
#
# $T < 1$ stretches the differences between scores (the distribution sharpens; $T \to 0$ puts all
# the mass on the best token, "greedy"), $T > 1$ shrinks them (flatter: more variety, more mistakes).
# Dividing the *probabilities* by $T$ after the softmax does nothing at all once they are
# renormalised: the temperature acts on the scores.
#
# **Your turn.** Implement `next_token_probs(logits, temperature=1.0)`: `logits` has shape
# `(..., vocab)`, the result too. Compute in (at least) float32.
#
# <details><summary>Hint 1</summary>The softmax goes over the last axis, the vocabulary: <code>dim=-1</code>.</details>
# <details><summary>Hint 2</summary><code>torch.softmax(logits.float() / temperature, dim=-1)</code> (your 04 <code>softmax</code> works too).</details>

# %% [test decoder.next_token_probs points=2 hidden]

# %% [markdown]
# ### A small model to look at
#
# To see these distributions on real text we need a trained model. The next cell trains a small
# GPT on the course's stories, **character by character** (the vocabulary is the 50-odd characters
# of the corpus; notebook 07 trains the real one on your BPE tokens from 01). The loop is a preview
# of 07: random windows of the text, the cross-entropy between the scores at every position and the
# character that really comes next, and the AdamW optimiser.

# %%
train_text = corpus("train", SIZES["text"])
val_text = corpus("val", SIZES["text"])
chars = sorted(set(train_text))
stoi = {c: i for i, c in enumerate(chars)}


def encode_chars(text):
    """Characters -> ids (a character the corpus never uses becomes a space)."""
    return [stoi.get(c, stoi[" "]) for c in text]


def decode_chars(ids):
    return "".join(chars[int(i)] for i in ids)


train_ids = torch.tensor(encode_chars(train_text))
print(f"{len(train_text):,} characters of stories, a vocabulary of {len(chars)} characters:")
print("".join(chars).replace("\n", "⏎"))


def train_char_gpt(config, steps, batch_size, lr, seed=0):
    """A short training run (a preview of notebook 07): returns the model and the loss of every step."""
    torch.manual_seed(seed)
    model = GPT(config).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    losses, block = [], config.block_size
    for step in range(steps):
        starts = torch.randint(len(train_ids) - block - 1, (batch_size,), generator=generator)
        x = torch.stack([train_ids[s: s + block] for s in starts.tolist()]).to(DEVICE)        # (B, T)
        y = torch.stack([train_ids[s + 1: s + 1 + block] for s in starts.tolist()]).to(DEVICE)  # the next characters
        for group in optimizer.param_groups:   # a short warm-up, then a cosine decay
            group["lr"] = lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * step / steps))
        logits = model(x)                                                                     # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}")
    return model.eval(), losses


model = None
with needs():
    char_config = GPTConfig(vocab_size=len(chars), block_size=SIZES["block"], n_layer=SIZES["n_layer"],
                            n_head=SIZES["n_head"], d_model=SIZES["d_model"])
    started = time.perf_counter()
    model, losses = train_char_gpt(char_config, SIZES["steps"], SIZES["batch"], SIZES["lr"])
    seconds = time.perf_counter() - started
    print(f"{model.num_parameters():,} parameters, {SIZES['steps']} steps in {seconds:.0f} s; "
          f"loss {losses[0]:.2f} -> {sum(losses[-20:]) / len(losses[-20:]):.2f} "
          f"(a uniform guess over {len(chars)} characters would be ln {len(chars)} = {math.log(len(chars)):.2f})")
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.plot(losses, lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title("training the character-level GPT")
    plt.show()


def need_model():
    """Skip the rest of a cell, with a message, when the model above could not be trained."""
    if model is None:
        raise NotImplementedError("the character-level GPT above, which needs §1 and §2")


def generate_text(prompt_ids, n_new, **options):
    """model.generate, with the KV cache of §7 once KVCache.update is written (without it until then)."""
    try:
        return model.generate(prompt_ids, n_new, **options)
    except NotImplementedError as err:
        if "KVCache" not in str(err):
            raise
        return model.generate(prompt_ids, n_new, use_cache=False, **options)


# %% [markdown]
# ### The next-token distribution, position by position
#
# Thanks to the causal mask, **one** forward pass over a sentence gives the model's prediction at
# every position: the scores at position t are its guess for character t + 1, made from characters
# 0 … t only. Move the slider along the sentence; the bars are `next_token_probs` of the scores at
# that position (the true next character in orange), and the temperature slider reshapes them.

# %%
with needs():
    need_model()
    sentence = "Mia had a red kite. She walked to the park with Tom."
    ids = torch.tensor([encode_chars(sentence)], device=DEVICE)
    with torch.no_grad():
        sentence_logits = model(ids)[0].float().cpu()                      # (T, vocab): one row per position
    next_token_probs(sentence_logits[0])                                   # stops here if §4 is not written yet

    def show_next(position=10, temperature=1.0):
        probs = next_token_probs(sentence_logits[position - 1], temperature)  # the guess after sentence[:position]
        top = torch.topk(probs, 12)
        truth = sentence[position] if position < len(sentence) else None
        labels = [repr(chars[i])[1:-1].replace(" ", "␣") for i in top.indices.tolist()]
        colors = ["tab:orange" if chars[i] == truth else "tab:blue" for i in top.indices.tolist()]
        fig, ax = plt.subplots(figsize=(8, 2.8))
        ax.bar(labels, top.values.numpy(), color=colors)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        rank = int((probs > probs[stoi[truth]]).sum()) + 1 if truth in stoi else None
        ax.set_title(f"after {sentence[max(0, position - 30):position]!r}: next is {truth!r} "
                     f"(p = {float(probs[stoi[truth]]):.2f}, rank {rank})")
        plt.show()

    widgets.interact(show_next,
                     position=widgets.IntSlider(value=10, min=1, max=len(sentence) - 1, description="position"),
                     temperature=widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="temperature"));

# %% [markdown]
# Where the text is predictable (inside a word, after "Mia ha") the model is sure; at the start of a
# word it hesitates between several plausible continuations. That hesitation is where sampling
# choices matter.

# %% [markdown]
# ## §5 Cutting the tail: top-k and top-p
#
# A vocabulary has many tokens that are each very unlikely, but together they hold real mass: draw
# from the full distribution for long enough and you *will* draw one of them, and a single odd
# token can derail a text. Two standard cuts, applied to the scores before the softmax (a cut token
# gets the score $-\infty$, so probability 0):
#
# * **top-k**: keep the $k$ highest scores. Exactly $k$ survive; at a tie on the boundary, the lower
#   token id is kept (sort with `stable=True`).
# * **top-p** ("nucleus", Holtzman et al. 2019): sort the tokens from most to least likely and keep
#   the **smallest** set whose total probability reaches $p$. Walking down the sorted list, the token
#   whose probability makes the total cross $p$ is *kept*; the ones after it are dropped. So the set
#   is small when the model is sure and large when it hesitates.
#
# Both return a new tensor (the caller may still need the original scores) of the same shape.
#
# **Your turn.** Implement `top_k_filter(logits, k)` and `top_p_filter(logits, p)`.
#
# <details><summary>Hint 1</summary><code>torch.sort(logits, dim=-1, descending=True, stable=True)</code> gives the sorted scores and their ids; <code>tensor.scatter(-1, ids, values)</code> puts values back at those ids.</details>
# <details><summary>Hint 2</summary>For top-p, the mass of the tokens ranked <em>before</em> token i is <code>cumsum - probs</code>; a token is dropped when that mass is already ≥ p.</details>
# <details><summary>Hint 3</summary>Build a boolean "drop" tensor in the sorted order, scatter it back to vocabulary order, and finish with <code>logits.masked_fill(drop, float("-inf"))</code>.</details>

# %% [test decoder.top_k points=2 hidden]

# %% [test decoder.top_p points=2 hidden]

# %% [markdown]
# What the two cuts keep of the model's distribution at the start of a word (after "Mia had a "),
# where it hesitates most:

# %%
with needs():
    need_model()
    position = sentence.index("red")
    scores = sentence_logits[position - 1]
    views = [("full distribution", scores), ("top-k, k = 5", top_k_filter(scores, 5)),
             ("top-p, p = 0.9", top_p_filter(scores, 0.9))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), sharey=True)
    for ax, (title, filtered) in zip(axes, views):
        probs = next_token_probs(filtered)
        top = torch.topk(next_token_probs(scores), 15).indices
        ax.bar([repr(chars[i])[1:-1].replace(" ", "␣") for i in top.tolist()], probs[top].numpy())
        kept = int(torch.isfinite(filtered).sum())
        ax.set_title(f"{title}: {kept} tokens kept")
    axes[0].set_ylabel("probability")
    plt.show()

# %% [markdown]
# ## §6 Sampling
#
# The last piece chooses one token per row:
#
# * `temperature == 0`: **greedy**, the token with the highest score (the lowest id at a tie):
#   deterministic, and prone to loops ("the the the…") on long texts;
# * otherwise: divide the scores by the temperature, apply top-k if asked, then top-p if asked (on
#   the divided scores: the temperature changes which tokens form the nucleus), turn them into
#   probabilities with your `next_token_probs`, and draw one token with the given `generator`.
#
# **Reproducibility.** Random draws come from a random number generator. PyTorch has a global one
# (`torch.manual_seed` sets it), but any other code can advance it between two of your calls. A
# `torch.Generator` of your own, seeded once, gives the same tokens every time for the same seed.
# The given `draw_from(probs, generator)` does the draw (one token per row, with `torch.multinomial`).
#
# **Your turn.** Implement `sample_next_token(logits, *, temperature=1.0, top_k=None, top_p=None,
# generator=None)`. `GPT.generate` (given) calls it at every step.
#
# <details><summary>Hint 1</summary><code>logits.argmax(dim=-1)</code> returns the first best id of each row.</details>
# <details><summary>Hint 2</summary>The order: <code>scaled = logits / temperature</code>, then the filters that are not None, then <code>next_token_probs(scaled)</code>, then <code>draw_from(probs, generator)</code>.</details>

# %% [test decoder.sample points=3 hidden]

# %% [markdown]
# ### Generate with sliders
#
# Type a beginning and move the sliders (top-k 0 means "off", top-p 1.0 means "off"). The line under
# the text measures it with the course world (`course_lib.data`): the share of its words that exist
# in the world's vocabulary, and the share of its sentences that the world's grammar accepts. The
# same seed always gives the same text.

# %%
KNOWN_WORDS = set(vocabulary()) | {w.lower() for w in vocabulary()}


def measure_text(text):
    """(share of real words, share of distinct words, grammar report) of a generated text."""
    found = [w for w in word_tokens(text) if w[0].isalpha()]
    real = sum(w in KNOWN_WORDS or w.lower() in KNOWN_WORDS for w in found) / max(1, len(found))
    distinct = len({w.lower() for w in found}) / max(1, len(found))
    return real, distinct, grammar_report(text)


with needs():
    need_model()
    generate_text(torch.tensor([[0]], device=DEVICE), 2, temperature=1.0, top_k=3, top_p=0.9)  # stops here before §6

    def show_generation(prompt="Mia", temperature=0.8, top_k=0, top_p=1.0, seed=0):
        generator = torch.Generator().manual_seed(seed)
        idx = torch.tensor([encode_chars(prompt or "\n")], device=DEVICE)
        out = generate_text(idx, min(300, SIZES["sample_chars"]), temperature=temperature,
                             top_k=top_k or None, top_p=top_p if top_p < 1.0 else None, generator=generator)
        text = decode_chars(out[0].tolist())
        print(text)
        real, distinct, report = measure_text(text)
        print(f"\n— {100 * real:.0f}% of its words are words of the course world; {report.n_valid} of its "
              f"{report.n_sentences} complete sentences are valid in the world's grammar")

    widgets.interact(show_generation,
                     prompt=widgets.Text(value="Mia", description="prompt"),
                     temperature=widgets.FloatSlider(value=0.8, min=0.0, max=2.0, step=0.05, description="temperature"),
                     top_k=widgets.IntSlider(value=0, min=0, max=len(chars), description="top-k"),
                     top_p=widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p"),
                     seed=widgets.IntSlider(value=0, min=0, max=20, description="seed"));

# %% [markdown]
# The knobs, measured on a longer text generated with each setting (the same model and prompt;
# greedy writes one text, the others draw with seed 0): the share of real words, the share of
# *distinct* words (low when the text repeats itself), and the share of valid sentences.

# %%
with needs():
    need_model()
    settings = [("greedy (temperature 0)", dict(temperature=0.0)), ("temperature 0.5", dict(temperature=0.5)),
                ("temperature 1.0", dict(temperature=1.0)), ("temperature 1.0, top-p 0.9", dict(temperature=1.0, top_p=0.9)),
                ("temperature 1.0, top-k 5", dict(temperature=1.0, top_k=5)), ("temperature 1.5", dict(temperature=1.5))]
    prompt = torch.tensor([encode_chars("Once upon a time")], device=DEVICE)
    print(f"{'setting':28} {'real words':>10} {'distinct':>9} {'valid sentences':>16}   beginning of the text")
    for name, options in settings:
        out = generate_text(prompt, SIZES["sample_chars"], generator=torch.Generator().manual_seed(0), **options)
        text = decode_chars(out[0].tolist())
        real, distinct, report = measure_text(text)
        valid = f"{report.n_valid}/{report.n_sentences}"
        print(f"{name:28} {100 * real:9.0f}% {100 * distinct:8.0f}% {valid:>16}   {text[16:66].replace(chr(10), ' ')!r}")
    first = generate_text(prompt, 40, generator=torch.Generator().manual_seed(7))
    again = generate_text(prompt, 40, generator=torch.Generator().manual_seed(7))
    print("\nseed 7 twice gives the same text:", torch.equal(first, again))

# %% [markdown]
# Read the table above from top to bottom: a low temperature and the cuts trade variety (distinct
# words) for correctness (real words); greedy decoding is the extreme and tends to repeat itself, a
# high temperature invents words. A model this small, trained briefly on characters, writes
# few fully valid sentences; notebook 07 trains the course GPT on BPE tokens for longer and
# measures the same grammar figure.

# %% [markdown]
# ## §7 The KV cache: generating without recomputing the past
#
# Generating N tokens naively runs the model N times on ever longer texts: at step t it recomputes
# the vectors of all t tokens, although all but the last are exactly what they were one step
# earlier. The causal mask guarantees it: a token's key and value in every layer depend on the tokens
# up to it only, and adding a token after it changes nothing. So each attention layer can **store**
# the keys and values it has computed (a *KV cache*) and, at the next step, process the **newest
# token only**: its query is compared with all the stored keys and its own. The work per step no
# longer grows with the length of the text (apart from that one row of attention).
#
# Two things to get right:
#
# * **storage**: `KVCache` (one per block) allocates two buffers of shape (B, heads, max_len, d_head)
#   at the first update. `update(k, v)` writes the new keys and values right after the `length`
#   stored ones, moves `length` forward, and returns every key and value so far;
# * **positions**: with a cache, `features` receives only the new tokens; they sit at positions
#   `start … start + T - 1`, where `start = kv_cache[0].length`, the number of tokens already cached
#   (your `features` from §2 already reads `start`).
#
# Your attention from 04 calls `update` (see `GPTAttention` in `decoder.py`); `GPT.generate` feeds the
# prompt once and then one token per step.
#
# **Your turn.** Implement `KVCache.update(k, v)`.
#
# <details><summary>Hint 1</summary>The new tokens go to positions <code>self.length</code> to <code>self.length + T_new</code> of dimension 2: <code>self.keys[:, :, start:end] = k</code>.</details>
# <details><summary>Hint 2</summary>Move <code>self.length</code> to the end <em>before</em> returning, and return views up to it: <code>self.keys[:, :, :end]</code>.</details>

# %% [test decoder.kv_cache points=3 hidden]

# %% [markdown]
# Same tokens, less work: greedy generation from the character model with and without the cache.

# %%
with needs():
    need_model()
    prompt = torch.tensor([encode_chars("Tom had a")], device=DEVICE)
    n_new = min(SIZES["block"] - prompt.shape[1], 50)
    with_cache = model.generate(prompt, n_new, temperature=0.0, use_cache=True)
    without = model.generate(prompt, n_new, temperature=0.0, use_cache=False)
    print(repr(decode_chars(with_cache[0].tolist())))
    print("identical with and without the cache:", torch.equal(with_cache, without))

# %% [markdown]
# ### The speed-up, measured on your machine
#
# The loop below is what `generate` does, greedy, timed step by step. The model has the course GPT's
# sizes (4 blocks, 4 heads, 128 wide, a vocabulary of 1024 as in notebook 07; the speed does not
# depend on the weights) and a block long enough to hold the prompt and all the new tokens, so that
# the uncached model really re-reads a growing text.

# %%
def timed_greedy(model, prompt, n_new, use_cache):
    """Greedy generation, timing each step: (ids, seconds per step)."""
    idx, times = prompt, []
    cache = model.new_kv_cache() if use_cache else None
    with torch.inference_mode():
        for step in range(n_new):
            started = time.perf_counter()
            if use_cache:   # the prompt at the first step, then only the newest token
                hidden = model.features(idx if step == 0 else idx[:, -1:], kv_cache=cache)
            else:           # the whole text, every step
                hidden = model.features(idx)
            next_id = model.lm_head(hidden[:, -1]).argmax(dim=-1, keepdim=True)
            idx = torch.cat([idx, next_id], dim=1)
            if DEVICE.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
    return idx, times


with needs():
    n_new, n_prompt = SIZES["kv_new"], 16
    torch.manual_seed(0)
    speed_model = GPT(GPTConfig(vocab_size=1024, block_size=n_prompt + n_new)).to(DEVICE).eval()
    speed_prompt = torch.randint(0, 1024, (1, n_prompt), device=DEVICE)
    timed_greedy(speed_model, speed_prompt, 8, True)                      # warm-up
    slow_ids, slow_times = timed_greedy(speed_model, speed_prompt, n_new, use_cache=False)
    fast_ids, fast_times = timed_greedy(speed_model, speed_prompt, n_new, use_cache=True)
    slow_rate, fast_rate = n_new / sum(slow_times), n_new / sum(fast_times)
    print(f"{n_new} new tokens: without the cache {slow_rate:,.0f} tokens/s, with the cache {fast_rate:,.0f} "
          f"tokens/s: {fast_rate / slow_rate:.1f}x faster; same tokens: {torch.equal(slow_ids, fast_ids)}")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot([1000 * t for t in slow_times], lw=0.8, label="without the cache: re-reads the whole text")
    ax.plot([1000 * t for t in fast_times], lw=0.8, label="with the cache: the newest token only")
    ax.set_xlabel("step (new token)")
    ax.set_ylabel("ms per token")
    ax.set_yscale("log")
    ax.legend()
    plt.show()

# %% [markdown]
# The price is memory: for every block, two tensors of (batch, heads, length, d_head) numbers. For
# large models with long texts the cache outgrows the weights, which is why newer models share keys
# and values between heads (multi-query and grouped-query attention). `benchmarks/bench_kv_cache.py`
# prints the same comparison for other sizes. (One limit of learned positions: a cache cannot slide
# past `block_size`, since every stored key was computed at its own position; `generate` then
# restarts the cache from the last half block, see its docstring.)

# %% [markdown]
# ## §8 The encoder–decoder: cross-attention
#
# The original Transformer (2017) was made for translation: an **encoder** (05) reads the whole
# source sentence, and a **decoder** writes the target one token at a time. Its decoder layer has
# three sub-layers, each in a residual connection with its LayerNorm (after it, post-norm, as in the
# paper and PyTorch's default; or before it with `norm_first=True`):
#
# 1. causal **self-attention** over the target written so far (your §1 idea);
# 2. **cross-attention**: the queries come from the target, the keys and values from `memory`, the
#    encoder's output. Each target token looks up the source tokens it needs (in translation, the
#    word it is translating);
# 3. the feed-forward network.
#
# ```
# post-norm:  x = norm1(x + drop1(self_attn(x, causal)))          pre-norm:  x = x + drop1(self_attn(norm1(x), causal))
#             x = norm2(x + drop2(cross_attn(x, memory)))                    x = x + drop2(cross_attn(norm2(x), memory))
#             x = norm3(x + drop3(ff(x)))                                    x = x + drop3(ff(norm3(x)))
# ```
#
# Padding: `padding_mask` (B, T) and `memory_padding_mask` (B, S) are True at real tokens; each is a
# key mask of its attention, `mask[:, None, None, :]`, as in 04 and 05.
#
# **Your turn.** Implement `DecoderLayer.forward(x, memory, *, causal=True, padding_mask=None,
# memory_padding_mask=None)`; it must equal PyTorch's `nn.TransformerDecoderLayer` with the same
# weights, in both norm orders.
#
# <details><summary>Hint 1</summary>Your attention takes <code>(query, key, value, mask=..., is_causal=...)</code>; the self-attention gets <code>is_causal=causal</code> and the target padding mask, the cross-attention the source padding mask.</details>
# <details><summary>Hint 2</summary>The cross-attention call is <code>self.cross_attn(h, memory, memory, mask=...)</code>, with <code>h</code> the (normalised, in pre-norm) target.</details>

# %% [test decoder.decoder_layer points=3 hidden]

# %%
with needs():
    for norm_first in (False, True):
        torch_layer = nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
        ours = load_from_torch(DecoderLayer(32, 4, 64, norm_first=norm_first), torch_layer).eval()
        x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
        with torch.no_grad():
            expected = torch_layer(x, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
                                   tgt_is_causal=True)
            diff = (ours(x, memory) - expected).abs().max().item()
        print(f"norm_first={norm_first}: largest difference from nn.TransformerDecoderLayer: {diff:.2e}")

# %% [markdown]
# ### A task from the course world: turn a statement into a question about it
#
# The world's facts are stated in the stories ("Peanut was Zoe's cat.") and asked about in notebook
# 08 ("Whose cat is Peanut?"). Here an encoder–decoder learns the mapping: read a statement, write
# the question about its first-named character. It is a small translation task: the question reuses
# words of the statement (names, objects) in another order and adds question words. The
# statements of 20% of the facts are held out: the model never sees those facts in training, so
# getting their questions right means it learned the pattern, not the examples.
#
# `EncoderDecoder` (given in `decoder.py`) is 05's `Encoder` plus a stack of your `DecoderLayer`s,
# with one word vocabulary shared by both sides.

# %%
WORD = re.compile(r"[A-Za-z]+|'s|[.,?!]")


def statement_question_pairs(seed):
    """(statement, question, held_out) for every statement of World(seed)'s facts."""
    world = World(seed)
    names = {c.name for c in world.characters} | {c.pet_name for c in world.characters}
    held_out = world.test_fact_ids(0.2)
    pairs = []
    for fact in world.facts:
        questions = [q for q, _, form in fact.questions if form == "question"]
        for statement in fact.statements:
            first = next((w for w in WORD.findall(statement) if w in names), None)
            question = next((q for q in questions if first in WORD.findall(q)), questions[0])
            pairs.append((statement, question, fact.fact_id in held_out))
    return pairs


s2q = [p for seed in range(SIZES["s2q_worlds"]) for p in statement_question_pairs(seed)]
s2q_train = [(s, q) for s, q, held in s2q if not held]
s2q_test = [(s, q) for s, q, held in s2q if held]
words = ["<pad>", "<bos>", "<eos>"] + sorted({w for s, q, _ in s2q for w in WORD.findall(s) + WORD.findall(q)})
word_id = {w: i for i, w in enumerate(words)}
PAD, BOS, EOS = 0, 1, 2


def encode_words(text, bos=False):
    return ([BOS] if bos else []) + [word_id[w] for w in WORD.findall(text)] + [EOS]


def decode_words(ids):
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(words[i])
    return " ".join(out).replace(" 's", "'s").replace(" ?", "?").replace(" .", ".").replace(" ,", ",")


def pad_rows(rows):
    longest = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (longest - len(r)) for r in rows], device=DEVICE)


print(f"{len(s2q_train)} training pairs, {len(s2q_test)} held-out pairs, {len(words)} words; for example:")
for statement, question in random.Random(0).sample(s2q_train, 4):
    print(f"   {statement:50} -> {question}")

# %%
s2q_model = None
with needs():
    torch.manual_seed(0)
    s2q_model = EncoderDecoder(len(words), d_model=SIZES["s2q_d"], n_heads=4, n_layers=2,
                               d_ff=2 * SIZES["s2q_d"]).to(DEVICE)
    sources = [encode_words(s) for s, _ in s2q_train]
    targets = [encode_words(q, bos=True) for _, q in s2q_train]
    optimizer = torch.optim.AdamW(s2q_model.parameters(), lr=3e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    steps, s2q_losses, started = SIZES["s2q_steps"], [], time.perf_counter()
    for step in range(steps):
        rows = torch.randint(len(sources), (SIZES["s2q_batch"],), generator=generator).tolist()
        src, tgt = pad_rows([sources[r] for r in rows]), pad_rows([targets[r] for r in rows])
        for group in optimizer.param_groups:
            group["lr"] = 3e-3 * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * step / steps))
        logits = s2q_model(src, tgt[:, :-1])          # teacher forcing: read the question up to t, predict t + 1
        loss = F.cross_entropy(logits.reshape(-1, len(words)), tgt[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        s2q_losses.append(loss.item())
    print(f"{steps} steps in {time.perf_counter() - started:.0f} s, loss {s2q_losses[0]:.2f} -> "
          f"{sum(s2q_losses[-20:]) / len(s2q_losses[-20:]):.3f}")

    predictions = []
    for i in range(0, len(s2q_test), 256):
        batch = s2q_test[i:i + 256]
        out = s2q_model.greedy(pad_rows([encode_words(s) for s, _ in batch]), BOS, EOS, max_len=16)
        predictions += [decode_words(row.tolist()) for row in out]
    right = [p == q for p, (_, q) in zip(predictions, s2q_test)]
    print(f"exact match on the {len(s2q_test)} held-out statements: {100 * sum(right) / len(right):.1f}%")
    shown = list(zip(predictions, s2q_test, right))
    for p, (s, q), ok in shown[:5]:
        print(f"  {'✓' if ok else '✗'} {s:52} -> {p}" + ("" if ok else f"   (expected: {q})"))
    wrong = [(s, p, q) for p, (s, q), ok in shown[5:] if not ok]
    if wrong:
        print(f"{len(wrong)} more mistakes, for example:")
        for s, p, q in wrong[:4]:
            print(f"  ✗ {s:52} -> {p}   (expected: {q})")

# %% [markdown]
# ### What the cross-attention looks at
#
# For one held-out statement, the cross-attention weights of the decoder's last layer: one row per
# word of the question being written (the row of word t is the step that *predicts* word t + 1), one
# column per word of the statement. Copying a name or an object shows up as a dark cell on that word.

# %%
with needs():
    if s2q_model is None:
        raise NotImplementedError("the encoder-decoder above, which needs §8 (and 05's Encoder)")
    statement = next((s for s, _ in s2q_test if "'s" in s), s2q_test[0][0])
    src = pad_rows([encode_words(statement)])
    out = s2q_model.greedy(src, BOS, EOS, max_len=16)
    question_ids = out[0].tolist()
    if EOS in question_ids:
        question_ids = question_ids[:question_ids.index(EOS)]
    maps = s2q_model.cross_attention_maps(src, torch.tensor([question_ids], device=DEVICE))
    q_tokens = [words[i] for i in question_ids]                  # the decoder's input at each step
    k_tokens = [words[i] for i in encode_words(statement)]
    print(f"{statement!r} -> {decode_words(question_ids)!r}")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    attention_heatmap(ax, maps[-1][0].mean(dim=0).cpu(), q_tokens, k_tokens,
                      "last decoder layer, cross-attention (average of the heads)")
    ax.set_ylabel("decoder input (the question so far)")
    ax.set_xlabel("statement (the encoder's words)")
    plt.show()
    plot_heads(maps[-1][0].cpu(), q_tokens, k_tokens, "each head of the last layer", size=2.8)
    plt.show()

# %% [markdown]
# ## Where GPT, BERT and T5 sit
#
# The three families of Transformer models differ mostly in **who may attend to whom**:
#
# | family | attention | examples | made for |
# |---|---|---|---|
# | encoder-only | every token sees every token | BERT, RoBERTa (notebook 05) | understanding: classify, tag, fill in blanks |
# | decoder-only | causal: each token sees its past | GPT-2/3/4, Llama, Qwen (this notebook, 07-09) | generating text; with scale, almost everything |
# | encoder–decoder | full over the input, causal over the output, plus cross-attention | the 2017 Transformer, T5, BART (§8) | turning one text into another: translate, summarise |
# | prefix LM | one stack: full over the prompt, causal over the answer | GLM, UniLM | both, in a single model |
#
# The masks, drawn for 4 input tokens followed by 4 output tokens (dark = may attend). The prefix LM
# and the encoder–decoder let the same pairs meet; the difference is that the encoder–decoder has two
# stacks with their own weights, and its output tokens reach the input through a separate
# cross-attention that reads the encoder's *last* layer.

# %%
n_in, n_out = 4, 4
n = n_in + n_out
full = torch.ones(n, n)
causal = torch.ones(n, n).tril()
prefix = causal.clone()
prefix[:, :n_in] = 1.0                                     # everyone sees the whole prompt
encoder_decoder = torch.zeros(n, n)
encoder_decoder[:n_in, :n_in] = 1.0                        # encoder: the input sees itself, fully
encoder_decoder[n_in:, :n_in] = 0.5                        # cross-attention (other weights, drawn lighter)
encoder_decoder[n_in:, n_in:] = torch.ones(n_out, n_out).tril()   # decoder self-attention: causal
labels = [f"in{i}" for i in range(n_in)] + [f"out{i}" for i in range(n_out)]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
for ax, (title, mask) in zip(axes, [("encoder-only (BERT)", full), ("decoder-only (GPT)", causal),
                                    ("prefix LM (GLM)", prefix),
                                    ("encoder-decoder (T5); light: cross-attention", encoder_decoder)]):
    attention_heatmap(ax, mask, labels, labels, title, annotate=False)
for ax in axes[1:]:
    ax.set_ylabel("")
fig.tight_layout()
plt.show()

# %% [markdown]
# Decoder-only models won the race to scale: one stack, one objective (the next token) that any text
# provides for free, and an interface, "continue this text", that can express a question, an
# instruction or a translation. Notebook 07 trains the course's GPT on the stories and measures it;
# 08 and 09 teach it to answer and to prefer good answers.
#
# ## Summary
#
# * A decoder is an encoder with a **causal mask**: position t sees 0 … t, so one pass trains every
#   position and never reads the answer.
# * The GPT: token + position embeddings → pre-norm blocks → final norm → an LM head **tied** to the
#   token embedding (one shared matrix).
# * The last step is a linear layer and a softmax; **temperature** divides the scores, **top-k** and
#   **top-p** cut the tail, a **seeded generator** makes sampling reproducible.
# * The **KV cache** stores each layer's keys and values: the same tokens, many times faster.
# * **Cross-attention** lets a decoder read an encoder's output: the encoder–decoder of translation and T5.
#
# A last look at all the checks of this notebook:

# %%
check_all("decoder");
