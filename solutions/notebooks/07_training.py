# Notebook 07 of the course: training. Percent format: see grading/build.py.

# %% [markdown]
# # 07 · Training: from random numbers to a model that writes the course world's sentences
#
# Notebook 06 built a GPT. Its weights are random, so it writes noise. Training turns it into a
# model of the course corpus, and that takes surprisingly few ideas: a loss that says how wrong each
# prediction was, batches of text, an optimizer that follows the gradient with a sensible step size,
# a schedule for that step size, a guard against gradients that explode, a loop, and a way to stop
# and continue. You write each of them, check it, and then train the course GPT with **your** loop
# and *measure* what it learned: the share of its sentences that the world's grammar accepts.
#
# | § | you implement in `course_lib/training.py` | what for |
# |---|---|---|
# | 1 | `cross_entropy`: the loss, from logits, with `ignore_index` | how wrong each prediction is |
# | 2 | `get_batch`: random windows of the token stream and their next tokens | the data |
# | 3 | `AdamW.step`: Adam with decoupled weight decay | the optimizer every LLM uses |
# | 4 | `lr_schedule`: linear warmup, cosine decay | the step size over time |
# | 5 | `clip_grad_norm`: scale gradients down to a maximum norm | a guard against bad batches |
# | 6 | `train_step` and `evaluate`: one update; the loss on unseen text | the loop |
# | 7 | `save_checkpoint` / `load_checkpoint`: stop and resume, bit for bit | long runs |
# | 8 | `perplexity`: exp(mean loss) over a whole text | the score |
#
# Then: the course GPT trained on the course corpus (live loss curve, samples before and after,
# validity against the baselines, the compute it took), what making the model or the data bigger
# changes, and how the same loop runs on several GPUs.
#
# Each section explains the idea, asks you to write one piece, checks it on the spot (`check(...)`
# prints ✓ or tells you what to fix), then uses it. Hints are folded under each exercise. You can
# "Run All" at any stage: a cell that needs a function you have not written yet says which.

# %% [setup]
from course_lib.checks import check, needs
from course_lib import device

print(device.describe())

# %% [markdown]
# The next cell imports what you will write and the pieces that are given. `autoreload` re-reads
# `course_lib/training.py` each time you run a cell, so you can edit the file and re-run a check
# without restarting the kernel.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.training

import math
import tempfile
import time
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib import data
from course_lib.checks import check_all
from course_lib.pretrained import SPECIAL_TOKENS, course_tokenizer, recipe, save_stage
from course_lib.training import (
    AdamW,
    BigramLM,
    LiveLossPlot,
    TrainConfig,
    clip_grad_norm,
    configure_threads,
    cross_entropy,
    encode_corpus,
    evaluate,
    flops_per_token,
    get_batch,
    grammar_validity,
    load_checkpoint,
    lr_schedule,
    perplexity,
    sample_text,
    save_checkpoint,
    train,
    train_step,
)

DEVICE = device.get_device()
MODE = device.run_mode()
RECIPE = recipe(MODE)          # the course GPT's recipe in this mode (shared with notebooks 08 and 09)
# Sizes of this notebook's smaller experiments per mode: "smoke" runs everything in seconds
# (results too small to mean anything), "quick" is for a laptop CPU, "full" for a GPU.
SIZES = {
    "smoke": dict(bigram_steps=20, scaling_steps=8, scaling_widths=(16, 32), scaling_tokens=(2_000, 20_000),
                  samples_shown=2),
    "quick": dict(bigram_steps=300, scaling_steps=100, scaling_widths=(64, 128), scaling_tokens=(10_000, 700_000),
                  samples_shown=3),
    "full": dict(bigram_steps=600, scaling_steps=600, scaling_widths=(128, 384), scaling_tokens=(200_000, 5_000_000),
                 samples_shown=4),
}[MODE]
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")
if DEVICE.type == "cpu":
    configure_threads()  # a first choice, timed on a probe; timed again on the real model below

# %% [markdown]
# ## The data: the corpus as one long stream of token ids
#
# The course corpus is a few thousand short stories about the course world. Your tokenizer from
# notebook 01 is trained on it, with the five special tokens the later notebooks need registered
# from the start (`<|endoftext|>` ends a story; `<|user|>`, `<|assistant|>`, `<|end|>` and
# `<|pad|>` are for notebook 08's chat format). Then every story is encoded and followed by
# `<|endoftext|>`, and all of it is concatenated: the model will read windows of this stream.
#
# *If notebook 01 is not finished* and the next cell stops in your `tokenization.py`, uncomment the
# first line: it uses the course's tokenizer for now (it needs the course's `solutions/` folder).

# %%
# from course_lib.earlier import use_reference; use_reference("tokenization")
started = time.perf_counter()
train_text, val_text = data.corpus("train", RECIPE.corpus_size), data.corpus("val", RECIPE.corpus_size)
tokenizer = train_ids = val_ids = None
with needs():
    tokenizer = course_tokenizer(train_text, RECIPE.vocab_size)
    train_ids = encode_corpus(tokenizer, train_text)
    val_ids = encode_corpus(tokenizer, val_text)
    VOCAB = tokenizer.vocab_size
    print(f"tokenizer: {tokenizer}; special tokens {tokenizer.special_tokens}")
    print(f"train: {len(train_text):,} characters -> {len(train_ids):,} tokens "
          f"({len(train_text) / len(train_ids):.2f} characters per token); val: {len(val_ids):,} tokens "
          f"({time.perf_counter() - started:.1f} s)")
    print("the first 24 tokens:", [tokenizer.decode([i]) for i in train_ids[:24].tolist()])


def need_data():
    """Skip the rest of a cell, with a message, when the token stream could not be made above."""
    if train_ids is None:
        raise NotImplementedError("the token stream, which needs your tokenizer from notebook 01 (see above)")

# %% [markdown]
# ## §1 The loss: cross-entropy from logits
#
# At every position the model outputs one score (a *logit*) per token of the vocabulary. Softmax
# turns them into probabilities, and the loss of the position is how surprised the model was by
# the token that really came next:
#
# $$\ell = -\log \mathrm{softmax}(z)_t = \log \sum_j e^{z_j} \; - \; z_t .$$
#
# Confident and right: $\ell \approx 0$. A uniform guess over $V$ tokens: $\ell = \log V$.
# Confident and wrong: large. The loss of a batch is the mean over all its positions (batch ×
# sequence). Two details matter in practice:
#
# * **Stability.** $e^{1000}$ overflows. `torch.logsumexp` subtracts the maximum first (the same
#   trick as notebook 04's softmax): never compute `softmax(z).log()` naively.
# * **Positions that do not count.** Notebook 08 will train on answers only, and padding has no
#   next token to predict: such targets are set to `ignore_index` (-100 by default, as in PyTorch)
#   and are left out of both the sum and the count.
#
# **Your turn.** Write `cross_entropy(logits, targets, *, ignore_index=-100)` in
# `course_lib/training.py`. The logits have the vocabulary as their **last** dimension
# (`(batch, seq, vocab)` or `(n, vocab)`); the result equals `F.cross_entropy` on the flattened tensors.
#
# <details><summary>Hint 1</summary>
#
# Flatten first: `logits.reshape(-1, vocab)` is `(n, vocab)` and `targets.reshape(-1)` is `(n,)`.
# `logits - torch.logsumexp(logits, dim=-1, keepdim=True)` are the log-probabilities.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `log_probs.gather(1, t.unsqueeze(1))` picks, in each row, the entry at that row's target. It
# fails on -100, so replace ignored targets by 0 first (`torch.where(keep, t, 0)`) and multiply
# the picked values by the mask `keep = t != ignore_index` before summing.
# </details>
#
# <details><summary>Hint 3</summary>
#
# ```python
# flat, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
# keep = t != ignore_index
# log_probs = flat - torch.logsumexp(flat, dim=-1, keepdim=True)
# picked = log_probs.gather(1, torch.where(keep, t, 0).unsqueeze(1)).squeeze(1)
# return -(picked * keep).sum() / keep.sum()
# ```
# </details>

# %% [test training.cross_entropy points=2 hidden]

# %% [markdown]
# Two reference points for every loss curve below. A model that knows nothing spreads its bets
# evenly: loss $\log V$. A model that only knows how often each token occurs (the unigram
# frequencies, no context at all) does better: its loss is the entropy of those frequencies.

# %%
REFERENCE_LOSSES = {}
with needs():
    need_data()
    uniform = cross_entropy(torch.zeros(1, VOCAB), torch.tensor([0]))
    counts = torch.bincount(train_ids.long(), minlength=VOCAB).float()
    unigram_logits = (counts + 1).log()                                 # log-frequencies as logits
    unigram = cross_entropy(unigram_logits.expand(len(val_ids) - 1, -1), val_ids[1:].long())
    print(f"uniform guess over {VOCAB} tokens: loss {float(uniform):.3f} (= ln {VOCAB} = {math.log(VOCAB):.3f})")
    print(f"unigram frequencies, no context:  loss {float(unigram):.3f} on the validation text")
    REFERENCE_LOSSES = {"uniform": float(uniform), "unigram": float(unigram)}

# %% [markdown]
# ## §2 Batches: random windows of the stream
#
# Training reads the stream through windows of `block_size` tokens, a batch of `batch_size`
# windows at a time, each starting at a random position. For a window $x$ = `data[s : s + T]`, the
# targets are the same window moved by one token, $y$ = `data[s + 1 : s + T + 1]`: at position $t$
# the model has read $x_0 .. x_t$ and must predict $y_t = x_{t+1}$. So one window trains $T$
# predictions at once (the causal mask of notebook 06 hides each answer from its question).
#
# Randomness comes from a `torch.Generator` that the caller owns and seeds: the same seed gives the
# same batches, and §7 will save and restore it to resume a run exactly. To make runs comparable
# (and checkable), draw all the starts with one call,
# `torch.randint(len(data) - block_size, (batch_size,), generator=generator)`.
#
# **Your turn.** Write `get_batch(data, batch_size, block_size, *, generator=None, device=None)`.
#
# <details><summary>Hint 1</summary>
#
# The largest start is `len(data) - block_size - 1`: its target window ends at the last token.
# `torch.randint(n, ...)` draws from `0 .. n - 1`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `torch.stack([data[s : s + block_size] for s in starts.tolist()])` builds x, `(batch, block)`;
# y the same with `s + 1`. Finish with `.to(device=device, dtype=torch.long)`.
# </details>

# %% [test training.get_batch points=2 hidden]

# %%
with needs():
    need_data()
    x, y = get_batch(train_ids, 2, 12, generator=torch.Generator().manual_seed(0))
    for row in range(2):
        print("x:", repr(tokenizer.decode(x[row].tolist())))
        print("y:", repr(tokenizer.decode(y[row].tolist())))
    print("position by position, x[0] -> y[0]:",
          [f"{tokenizer.decode([a])!r}->{tokenizer.decode([b])!r}" for a, b in zip(x[0, :5].tolist(), y[0, :5].tolist())])

# %% [markdown]
# ## §3 AdamW
#
# Plain gradient descent moves every weight by `lr × gradient`. That is a poor fit for a
# Transformer, whose gradients differ by orders of magnitude from one weight to the next (an
# embedding row of a rare token, a LayerNorm gain). **Adam** (Kingma & Ba, 2015) gives every weight
# its own step size: it keeps a running mean of the gradient, $m$ (momentum, which smooths the noise
# of small batches) and of its square, $v$ (its typical size), and moves by $m / \sqrt{v}$: about
# `lr` for every weight, whatever the scale of its gradient.
#
# $$m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
# \hat m = \frac{m}{1-\beta_1^t}, \quad \hat v = \frac{v}{1-\beta_2^t}, \qquad
# p \leftarrow p - \mathrm{lr} \frac{\hat m}{\sqrt{\hat v} + \epsilon}$$
#
# * **Bias correction.** $m$ and $v$ start at 0, so early on they are too small (after one step,
#   $m = (1-\beta_1) g$ = a tenth of $g$). Dividing by $1-\beta^t$ corrects exactly that.
# * **Decoupled weight decay** (AdamW, Loshchilov & Hutter 2019). Weight decay pulls weights towards
#   0 to keep them small. Added to the gradient (`g + λp`, "L2"), Adam's division by $\sqrt{v}$
#   would weaken it for exactly the weights with large gradients. AdamW shrinks the weight
#   directly, $p \leftarrow p\,(1 - \mathrm{lr}\,\lambda)$, before the Adam step.
#
# **Your turn.** Complete `AdamW.step` (a subclass of `torch.optim.Optimizer`, which gives you
# `param_groups`, `state`, `zero_grad`, `state_dict` and `load_state_dict`). Keep each parameter's
# `step`, `exp_avg` ($m$) and `exp_avg_sq` ($v$) in `self.state[p]`, so checkpoints save them.
#
# <details><summary>Hint 1</summary>
#
# `state = self.state[p]` is an empty dict the first time: fill it with `step = 0` and two
# `torch.zeros_like(p)`. Then `state["step"] += 1` and use `t = state["step"]`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# In place, inside `torch.no_grad()` (already there): `p.mul_(1 - lr * weight_decay)`,
# `m.mul_(beta1).add_(grad, alpha=1 - beta1)`, `v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)`.
# </details>
#
# <details><summary>Hint 3</summary>
#
# ```python
# denom = (v.sqrt() / math.sqrt(1 - beta2 ** t)).add_(eps)   # sqrt(v_hat) + eps
# p.addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))          # p -= lr * m_hat / denom
# ```
# </details>

# %% [test training.adamw points=3 hidden]

# %% [markdown]
# The check compared your AdamW with PyTorch's for a few steps. Here is a longer race: both
# optimizers train the same small model (a bigram table) on the same batches for 200 steps.

# %%
with needs():
    need_data()
    curves = {}
    for name in ("yours", "torch.optim.AdamW"):
        torch.manual_seed(0)
        model = BigramLM(VOCAB)
        opt = (AdamW if name == "yours" else torch.optim.AdamW)(model.parameters(), lr=1e-2, weight_decay=0.1)
        g = torch.Generator().manual_seed(0)
        losses = []
        for _ in range(200):
            xb, yb = get_batch(train_ids, 8, 16, generator=g)
            loss = F.cross_entropy(model(xb).flatten(0, 1), yb.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves[name] = (losses, model.table.weight.detach().clone())
    diff = (curves["yours"][1] - curves["torch.optim.AdamW"][1]).abs().max().item()
    print(f"after 200 steps: loss {curves['yours'][0][-1]:.4f} (yours) vs {curves['torch.optim.AdamW'][0][-1]:.4f} "
          f"(PyTorch); largest weight difference {diff:.2e}")

# %% [markdown]
# The cell above printed the largest difference between the two models' weights: rounding-level, so
# your AdamW *is* AdamW. From here on, the trainer uses PyTorch's `torch.optim.AdamW` anyway,
# because PyTorch has faster versions of the same arithmetic: a *fused* kernel on a GPU (one kernel
# for all parameters), a *foreach* version on a CPU (a few big operations instead of a Python loop
# over parameters). `TrainConfig(optimizer="course")` trains with yours instead.
#
# ## §4 The learning-rate schedule: warmup, then cosine
#
# One learning rate for the whole run is a compromise. At the start the weights are random and
# Adam's $v$ is a poor estimate from a handful of gradients: big steps throw the model far off
# (a loss spike), so the rate **warms up** linearly over the first steps. At the end, small steps let
# the model settle into a minimum instead of bouncing around it, so the rate **decays**, along half a
# cosine, from `max_lr` to `min_lr` at `total_steps` (and stays there):
#
# * warmup, `step < warmup_steps`: `max_lr * (step + 1) / warmup_steps` (step 0 already moves);
# * decay: `min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * progress))` with
#   `progress = (step - warmup_steps) / (total_steps - warmup_steps)`;
# * after: `min_lr`.
#
# **Your turn.** Write `lr_schedule(step, *, max_lr, warmup_steps, total_steps, min_lr=0.0)`.
#
# <details><summary>Hint</summary>
#
# Three `if`s in this order: warmup, "after the end", and the cosine in between (`math.cos`,
# `math.pi`). Return a Python float.
# </details>

# %% [test training.lr_schedule points=2 hidden]

# %% [markdown]
# Move the sliders: the warmup's length and the floor change the shape; the area under the curve
# is (roughly) how far the weights can travel in total.

# %%
def show_schedule(warmup_steps=20, min_lr_fraction=0.1):
    with needs():
        total = 200
        steps = list(range(total + 20))
        lrs = [lr_schedule(s, max_lr=1e-3, warmup_steps=warmup_steps, total_steps=total,
                           min_lr=1e-3 * min_lr_fraction) for s in steps]
        fig, ax = plt.subplots(figsize=(7, 2.8))
        ax.plot(steps, lrs)
        ax.axvline(total, ls=":", color="grey")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title(f"warmup {warmup_steps} steps, cosine to {min_lr_fraction:g} × max_lr at step {total}")
        plt.show()


widgets.interact(show_schedule, warmup_steps=widgets.IntSlider(value=20, min=0, max=100, step=5),
                 min_lr_fraction=widgets.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.05));

# %% [markdown]
# ## §5 Gradient clipping
#
# Now and then a batch produces a huge gradient (a rare pattern, a numerical accident), and one
# step along it can undo hours of training. **Clipping by global norm** caps the size of the step
# without changing its direction: measure the norm of *all* gradients as one long vector,
#
# $$\|g\| = \sqrt{\textstyle\sum_{\text{parameters}} \sum_{\text{entries}} g^2},$$
#
# and if it exceeds `max_norm`, multiply every gradient by `max_norm / (‖g‖ + eps)`. Clipping each
# parameter on its own would be simpler but would change the direction of the update. GPT-2, Llama
# and most LLMs clip at 1.0.
#
# **Your turn.** Write `clip_grad_norm(parameters, max_norm, *, eps=1e-6)`: scale in place, return the
# norm measured *before* clipping (worth logging: a rising gradient norm is an early warning).
#
# <details><summary>Hint 1</summary>
#
# `grads = [p.grad for p in parameters if p.grad is not None]`;
# `torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))` is the global norm.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `factor = torch.clamp(max_norm / (total + eps), max=1.0)` is 1 when no clipping is needed;
# `g.mul_(factor)` for every gradient.
# </details>

# %% [test training.clip_grad_norm points=2 hidden]

# %% [markdown]
# ## §6 The loop: one step, and the loss on text the model never trains on
#
# One training step, in the order PyTorch needs:
#
# 1. set the learning rate of the step (`group["lr"] = lr` for each of `optimizer.param_groups`);
# 2. forward: `logits = model(x)`, and the loss `cross_entropy(logits, y)`;
# 3. `optimizer.zero_grad(set_to_none=True)`: PyTorch *adds* new gradients to old ones;
# 4. `loss.backward()`, then clip (§5) if asked;
# 5. `optimizer.step()`; return `loss.detach()` (without its graph; on a GPU, without waiting).
#
# And every so often the loop asks how well the model does on the **validation** text, which it
# never trains on: if the training loss keeps falling while the validation loss rises, the model is
# memorising its training text (overfitting). `evaluate` measures it: `model.eval()` (no dropout),
# `torch.no_grad()` (no graph: faster, less memory), the mean loss over `iters` batches, and the
# model's mode put back as it was.
#
# **Your turn.** Write `train_step(model, optimizer, x, y, *, lr, grad_clip=1.0)` and
# `evaluate(model, data, *, batch_size, block_size, iters, generator=None)`.
#
# <details><summary>Hint 1</summary>
#
# `train_step` is the five lines listed above; clip with your `clip_grad_norm(model.parameters(), grad_clip)`
# when `grad_clip is not None`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# ```python
# was_training = model.training
# model.eval()
# try:
#     with torch.no_grad():
#         ...  # iters times: get_batch(data, ..., generator=generator, device=device), cross_entropy
# finally:
#     model.train(was_training)
# ```
# </details>

# %% [test training.train_step points=3 hidden]

# %% [test training.evaluate points=2 hidden]

# %% [markdown]
# `train(model, train_data, val_data, config)` (given, in `training.py`: read it) is the loop around
# your pieces: for each step, `lr_schedule`, `get_batch`, `train_step`; every `eval_interval` steps,
# `evaluate` on the validation text, a point on the curve and a call to `callback`; every
# `checkpoint_interval` steps, `save_checkpoint`. It also adds what makes it fast on a GPU and lets
# it run on several (the last section).
#
# First, the smallest language model there is: a **bigram** model, one row of logits per token,
# that predicts the next token from the current one only. Training it with your loop takes seconds;
# watch the curve.

# %%
bigram = None
with needs():
    need_data()
    torch.manual_seed(0)
    bigram = BigramLM(VOCAB).to(DEVICE)
    bigram_config = TrainConfig(max_steps=SIZES["bigram_steps"], batch_size=16, block_size=32, max_lr=0.1,
                                min_lr=0.01, warmup_steps=10, weight_decay=0.0,
                                eval_interval=max(1, SIZES["bigram_steps"] // 6), eval_iters=4)
    bigram_result = train(bigram, train_ids, val_ids, bigram_config,
                          callback=LiveLossPlot("bigram model", REFERENCE_LOSSES))
    print(f"bigram: validation loss {bigram_result.final['val_loss']:.3f} after {bigram_result.steps} steps "
          f"({bigram_result.seconds:.1f} s, {bigram_result.tokens_per_s:,.0f} tokens/s)")

# %% [markdown]
# How good is a bigram model at the world's grammar? Sample from it and let the grammar check
# count the valid sentences. The same count for text drawn from simple statistics of the corpus
# (`python -m course_lib.data` prints them too) gives the baselines: random characters, words drawn
# by their frequency alone (unigram), and words drawn given the previous word (bigram over words;
# our bigram model works over tokens, which here are mostly words).

# %%
BASELINES = data.baseline_reports(train_text[:1_000_000], n_tokens=20_000)
for name, baseline in BASELINES.items():
    print(f"baseline, {name:<18} {100 * baseline.valid_fraction:5.1f}% valid sentences")
with needs():
    need_data()
    if bigram is None:
        raise NotImplementedError("the bigram model trained above")
    report, texts = grammar_validity(bigram.cpu(), tokenizer, n=16, max_new_tokens=64)
    print(f"our bigram model:           {100 * report.valid_fraction:5.1f}% of {report.n_sentences} sampled sentences")
    print("sample:", texts[0][:300].replace("\n", " "))

# %% [markdown]
# ## §7 Checkpoints: stop, and continue exactly where you stopped
#
# Long runs get interrupted: a laptop sleeps, a job hits its time limit, a GPU fails. A checkpoint
# must hold *everything the next steps depend on*, or the resumed run silently becomes a different
# run:
#
# * the weights (`model.state_dict()`), obviously;
# * the optimizer's state (`optimizer.state_dict()`): AdamW's $m$, $v$ and step counts. Without
#   them Adam restarts with empty statistics and the first steps after a resume are wild;
# * the step reached: the learning-rate schedule depends on it;
# * the batch generator's state (`generator.get_state()`): otherwise the resumed run sees other
#   batches (and some twice);
# * PyTorch's global random state (`capture_rng_state()`): dropout draws from it.
#
# Write the file with `atomic_save` (to a temporary file, then renamed): a crash while writing must
# not destroy the previous checkpoint.
#
# **Your turn.** Write `save_checkpoint(path, model, optimizer, *, step, generator=None, extra=None)` and
# `load_checkpoint(path, model, optimizer=None, *, generator=None)` (it returns `{"step", "extra"}`).
#
# <details><summary>Hint 1</summary>
#
# Save one dict: `{"model": ..., "optimizer": ..., "step": step, "generator": generator.get_state()
# if generator is not None else None, "rng": capture_rng_state(), "extra": extra}`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# `checkpoint = torch.load(path, map_location="cpu", weights_only=True)`, then `load_state_dict`
# for the model and the optimizer, `generator.set_state(...)`, `restore_rng_state(checkpoint["rng"])`.
# </details>

# %% [test training.checkpoint points=3 hidden]

# %% [markdown]
# The proof, on the bigram model with dropout (so the global random state matters): a run of 40 steps
# straight through, and the same run stopped after 25 steps, reloaded from its checkpoint into a
# brand-new model and optimizer, and finished. On a CPU the two must be identical **bit for bit**.

# %%
with needs():
    need_data()
    resume_config = TrainConfig(max_steps=40, batch_size=8, block_size=16, max_lr=0.05, warmup_steps=5,
                                eval_interval=10, eval_iters=2)

    def fresh_bigram():
        torch.manual_seed(1)
        return BigramLM(VOCAB, dropout=0.1)

    straight = fresh_bigram()
    train(straight, train_ids, val_ids, resume_config, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bigram.pt"
        first_half = fresh_bigram()
        train(first_half, train_ids, val_ids, resume_config, checkpoint_path=path, stop_after=25, progress=False)
        torch.manual_seed(12345)                     # disturb everything: a new process would
        resumed = BigramLM(VOCAB, dropout=0.1)       # start from other random weights and states
        train(resumed, train_ids, val_ids, resume_config, checkpoint_path=path, resume=True, progress=False)
    identical = torch.equal(straight.table.weight, resumed.table.weight)
    print(f"straight run vs interrupted-and-resumed run: bit-identical weights: {identical}")

# %% [markdown]
# ## §8 Perplexity
#
# A loss of 1.2 nats per token is hard to picture. Its exponential, the **perplexity**, reads as
# "the model is as unsure as if it chose uniformly among this many tokens": a model that knows
# nothing has the perplexity of the vocabulary size, a perfect one has 1.
#
# `evaluate` estimates the loss from a few random batches. For a final score we want every token of
# the validation text, each predicted exactly once: cut the stream into consecutive windows
# (inputs `tokens[s : s + T]`, targets `tokens[s + 1 : s + T + 1]`, for s = 0, T, 2T, ...; the last
# window is shorter), add up each window's loss *times its number of targets*, divide by the total
# number of predictions, `len(tokens) - 1`, and take the exponential.
#
# **Your turn.** Write `perplexity(model, tokens, *, block_size, batch_size=16)` (in eval mode and
# without a graph, like `evaluate`).
#
# <details><summary>Hint</summary>
#
# The full windows can be stacked into batches of `batch_size`; run the short last one on its own.
# Keep a running `total += float(cross_entropy(model(x), y)) * y.numel()`.
# </details>

# %% [test training.perplexity points=2 hidden]

# %%
with needs():
    need_data()
    if bigram is None:
        raise NotImplementedError("the bigram model trained above")
    print(f"bigram model, validation perplexity: {perplexity(bigram, val_ids, block_size=64):.1f} "
          f"(a vocabulary of {VOCAB} tokens)")

# %% [markdown]
# ## The course GPT, trained with your loop
#
# Now the real model: notebook 06's GPT, sized for this machine (the recipe for each mode is in
# `course_lib.pretrained.RECIPES`; notebooks 08 and 09 fall back to the same recipe).
#
# *If notebook 06 is not finished* and the next cell stops in your `decoder.py`, uncomment the first
# line to use the course's GPT for now.
#
# **Threads.** On a CPU, PyTorch splits each operation over several threads. For a model this small
# on a busy machine, more threads can be *slower* (each matrix is too small to split well, and a
# thread waiting for a busy core holds up the others), so `configure_threads` times a real training
# step with 1, 2, ... threads and keeps the fastest (the line it prints says what it measured).

# %%
# from course_lib.earlier import use_reference; use_reference("decoder")
from course_lib.decoder import GPT, GPTConfig

gpt = None
with needs():
    need_data()
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=VOCAB, **RECIPE.model)).to(DEVICE)
    train_config = TrainConfig(**RECIPE.train)
    n_params = gpt.num_parameters()
    print(f"GPT: {gpt.config}")
    print(f"{n_params:,} parameters without the embedding tables, "
          f"{sum(p.numel() for p in gpt.parameters()):,} in all")
    print(f"training: {train_config}")
    if DEVICE.type == "cpu":
        threads_probe = torch.optim.AdamW(gpt.parameters(), lr=0.0)          # lr 0: timing only
        xb, yb = get_batch(train_ids, train_config.batch_size, train_config.block_size,
                           generator=torch.Generator().manual_seed(0))

        def one_step():
            loss = F.cross_entropy(gpt(xb).flatten(0, 1), yb.flatten())
            threads_probe.zero_grad()
            loss.backward()
            threads_probe.step()

        configure_threads(step=one_step)
        del threads_probe

# %% [markdown]
# **What the run will cost.** A matrix multiply-add is 2 FLOPs (floating-point operations) per
# weight per token; the backward pass costs twice the forward. So training takes about
# **6 · N · D** FLOPs for N parameters and D tokens (Kaplan et al., 2020; attention adds a little).
# The cell prints the estimate for this run, before it starts.

# %%
with needs():
    if gpt is None:
        raise NotImplementedError("the GPT of the cell above")
    flops = flops_per_token(gpt, train_config.block_size)
    planned_tokens = train_config.max_steps * train_config.batch_size * train_config.block_size
    print(f"N = {flops['params']:,.0f} parameters (the embedding table counts: it is also the LM head), "
          f"D = {planned_tokens:,} tokens ({planned_tokens / len(train_ids):.2f} passes over the corpus)")
    print(f"6·N·D = {flops['dense'] * planned_tokens:.3g} FLOPs, + attention {flops['attention'] * planned_tokens:.2g} "
          f"= {flops['per_token'] * planned_tokens:.3g} FLOPs")

# %% [markdown]
# Before training, the samples are noise: tokens drawn almost uniformly.

# %%
with needs():
    if gpt is None:
        raise NotImplementedError("the GPT of the cell above")
    for text in sample_text(gpt, tokenizer, n=SIZES["samples_shown"], max_new_tokens=30, seed=0):
        print("·", text.replace("\n", " ")[:200])

# %% [markdown]
# Train. The bar shows the steps; the plot is redrawn after every evaluation (validation loss on
# the same batches each time, training loss averaged since the previous point). The dotted lines
# are §1's references.

# %%
gpt_result = None
with needs():
    if gpt is None:
        raise NotImplementedError("the GPT of the cell above")
    gpt_result = train(gpt, train_ids, val_ids, train_config, callback=LiveLossPlot("course GPT", REFERENCE_LOSSES))
    print(f"{gpt_result.steps} steps, {gpt_result.tokens:,} tokens in {gpt_result.seconds:.1f} s "
          f"({gpt_result.tokens_per_s:,.0f} tokens/s while training)")
    print("last points of the curve (step: train / validation loss):",
          ", ".join(f"{h['step']}: {h['train_loss']:.3f} / {h['val_loss']:.3f}" for h in gpt_result.history[-3:]))

# %% [markdown]
# **What it cost, measured.** The compute estimate against the measured speed: achieved FLOP/s =
# 6·N (+ attention) × tokens/s, next to what this machine does on one large matrix product (its
# practical peak). A small model gets less than that: its matrices are small, and many of its
# operations (softmax, normalisation, the optimizer) are not matrix products.

# %%
with needs():
    if gpt_result is None:
        raise NotImplementedError("the training run above")
    achieved = flops["per_token"] * gpt_result.tokens_per_s
    total = flops["per_token"] * gpt_result.tokens
    a = torch.randn(1024, 1024, device=DEVICE)
    a @ a                                                             # warm up
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        a @ a
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    peak = 5 * 2 * 1024 ** 3 / (time.perf_counter() - t0)
    print(f"one 1024 x 1024 matrix product on {DEVICE}: {peak / 1e9:.1f} GFLOP/s (float32)")
    print(f"this run: {total:.3g} FLOPs in {gpt_result.seconds:.0f} s; {gpt_result.tokens_per_s:,.0f} tokens/s "
          f"= {achieved / 1e9:.2f} GFLOP/s achieved")
    gpt3 = 6 * 175e9 * 300e9
    print(f"GPT-3 (N = 175e9, D = 300e9 tokens): 6·N·D = {gpt3:.2g} FLOPs, "
          f"{gpt3 / total:.2g} times this run; at this speed, {gpt3 / achieved / 3.15e7:.2g} years")

# %% [markdown]
# ### Samples after training, and the measure
#
# Same seed as before training. Then the measure that matters: sample texts from the model, split
# them into sentences, and let the world's grammar check count the valid ones. The baselines (the
# same count for text sampled from simple statistics of the corpus, `python -m course_lib.data`)
# are printed beside it: a model must beat the bigram baseline to have learned more than word pairs.

# %%
validity = None
with needs():
    if gpt_result is None:
        raise NotImplementedError("the training run above")
    for text in sample_text(gpt, tokenizer, n=SIZES["samples_shown"], max_new_tokens=60, seed=0):
        print("·", text.replace("\n", " ")[:300])
    started = time.perf_counter()
    validity, samples = grammar_validity(gpt, tokenizer, n=RECIPE.samples, temperature=1.0)
    colder, _ = grammar_validity(gpt, tokenizer, n=RECIPE.samples, temperature=0.8)
    val_ppl = perplexity(gpt, val_ids[: 200 * train_config.block_size], block_size=train_config.block_size)
    print(f"\nvalid sentences among those the course GPT wrote ({time.perf_counter() - started:.0f} s to measure):")
    print(f"  {'course GPT, temperature 1.0':<30} {100 * validity.valid_fraction:6.1f}%  ({validity.n_sentences} sentences)")
    print(f"  {'course GPT, temperature 0.8':<30} {100 * colder.valid_fraction:6.1f}%  ({colder.n_sentences} sentences)")
    for name, report in BASELINES.items():
        print(f"  {'baseline: ' + name:<30} {100 * report.valid_fraction:6.1f}%")
    print(f"validation perplexity {val_ppl:.2f} (loss {math.log(val_ppl):.3f})")
    print("some sentences the grammar rejected:", validity.invalid_examples[:3])

# %% [markdown]
# The first line printed above is the model's validity at temperature 1.0 (sampling from exactly the
# distribution it learned), the second at 0.8 (slightly sharper: fewer rare, risky choices). The
# rejected sentences (the last line) show what it has not quite learned yet: typically the start of
# one sentence pattern finished with another, or a name assembled from the wrong pieces of tokens.
#
# ### Hand-off to notebooks 08 and 09
#
# The model and its tokenizer are saved as the stage `"pretrained"`: notebook 08 starts from it
# (`course_gpt()` finds it; without it, 08 trains or loads the course's reference model and says so).

# %%
with needs():
    if gpt_result is None or validity is None:
        raise NotImplementedError("the trained model and its measure above")
    path = save_stage("pretrained", gpt, tokenizer, extra={
        "mode": MODE, "trained_by": "notebook 07", "steps": gpt_result.steps, "tokens": gpt_result.tokens,
        "val_loss": gpt_result.final["val_loss"], "valid_fraction": validity.valid_fraction,
        "n_sentences": validity.n_sentences, "seconds": round(gpt_result.seconds, 1)})
    print(f"saved to {path}")

# %% [markdown]
# ## What scaling changes: a bigger model, more data
#
# Why are LLMs large? Kaplan et al. (2020) and Hoffmann et al. (2022, "Chinchilla") measured that the
# loss falls smoothly and predictably as the model (N), the data (D) and the compute (≈ 6·N·D) grow.
# Here is the same experiment in miniature: short runs of the same number of steps, with a narrower
# or wider GPT, trained on a small slice of the corpus or on (much more of) it.

# %%
scaling_rows = []
with needs():
    need_data()
    if gpt is None:
        raise NotImplementedError("the GPT of the cells above")
    for width in SIZES["scaling_widths"]:
        for n_tokens in SIZES["scaling_tokens"]:
            torch.manual_seed(0)
            small = GPT(GPTConfig(vocab_size=VOCAB, **{**RECIPE.model, "d_model": width,
                                                       "n_head": max(1, width // 32)})).to(DEVICE)
            config = TrainConfig(**{**RECIPE.train, "max_steps": SIZES["scaling_steps"],
                                    "eval_interval": SIZES["scaling_steps"], "eval_iters": 4, "compile": False})
            slice_ids = train_ids[:n_tokens]
            run = train(small, slice_ids, val_ids, config, progress=False)
            seen_loss = evaluate(small, slice_ids, batch_size=config.batch_size, block_size=config.block_size,
                                 iters=4, generator=torch.Generator().manual_seed(0))
            scaling_rows.append((width, small.num_parameters(), len(slice_ids), seen_loss,
                                 run.final["val_loss"], run.seconds))
    print(f"{SIZES['scaling_steps']} steps each, the same number of tokens per step")
    print(f"{'width':>6} {'params':>10} {'train tokens':>13} {'loss on its training text':>25} "
          f"{'val loss':>9} {'seconds':>8}")
    for width, params, n_tokens, seen, val, sec in scaling_rows:
        print(f"{width:>6} {params:>10,} {n_tokens:>13,} {seen:>25.3f} {val:>9.3f} {sec:>8.1f}")
    rows = {(w, n): (seen, val) for w, _, n, seen, val, _ in scaling_rows}
    (w_small, w_big), (n_small, n_big) = SIZES["scaling_widths"], [min(n, len(train_ids)) for n in SIZES["scaling_tokens"]]
    print(f"more data ({n_small:,} -> {n_big:,} tokens) changed the validation loss by "
          f"{rows[w_small, n_big][1] - rows[w_small, n_small][1]:+.3f} (width {w_small}) and "
          f"{rows[w_big, n_big][1] - rows[w_big, n_small][1]:+.3f} (width {w_big})")
    print(f"a wider model ({w_small} -> {w_big}) changed it by {rows[w_big, n_big][1] - rows[w_small, n_big][1]:+.3f} "
          f"(all the data) and {rows[w_big, n_small][1] - rows[w_small, n_small][1]:+.3f} (the small slice)")
    print(f"gap between the loss on the training text and on new text, small slice: "
          f"{rows[w_big, n_small][1] - rows[w_big, n_small][0]:+.3f} (width {w_big}); all the data: "
          f"{rows[w_big, n_big][1] - rows[w_big, n_big][0]:+.3f}")

# %% [markdown]
# Read the three lines under the table (a negative change is an improvement). A wider model learns
# more per step: a lower loss, at a higher cost per step (the last column of the table). With a
# small slice of data the model sees the same few stories again and again: the gap between its loss
# on the text it trained on and on new text says how much it memorises instead of generalising, and
# that gap is what more data closes. In runs this short the validation loss itself may hardly
# differ between the two slices (the model has not finished learning even the small one); train
# longer and the model on the small slice stops improving on new text while the other keeps going.
# Training longer, on more data, with a bigger model is how every
# step from GPT-1 to today's models was made; the scaling laws say how to split a compute budget
# between N and D (Chinchilla: roughly 20 tokens per parameter).
#
# ## Beyond one machine
#
# `train` runs unchanged on several GPUs (or CPU processes). Start it with `torchrun`, which launches
# one process per device and tells each its rank:
#
# ```bash
# # one machine with 8 GPUs: the course GPT's full recipe, each GPU computing 1/8 of every batch
# torchrun --standalone --nproc_per_node 8 -m course_lib.training --mode full
# # two machines with 8 GPUs each (run on both; MASTER is the first machine's address)
# torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint MASTER:29500 \
#     -m course_lib.training --mode full        # and --node_rank 1 on the second machine
# # two CPU processes, to try it on a laptop
# torchrun --standalone --nproc_per_node 2 -m course_lib.training --mode smoke
# ```
#
# What happens (read `train` and `distributed_info` in `training.py`): each process joins a
# process group (NCCL between GPUs, gloo on CPUs), draws the *same* global batch from the same
# seeded generator and trains on its own slice of the rows; `DistributedDataParallel` averages the
# gradients across processes during `backward`, so every process applies the same update and the
# result is the one a single process would compute with the whole batch (the course's tests check
# this, within rounding). Only rank 0 shows the progress bar, evaluates for the log and writes
# checkpoints. Beyond data parallelism, very large models also split each layer (tensor parallel)
# or the stack of layers (pipeline parallel) across GPUs, and shard the optimizer state (ZeRO/FSDP).
#
# ## Summary
#
# * The loss is the cross-entropy of the next token, computed stably with logsumexp; ignored
#   positions count neither in the sum nor in the mean.
# * Batches are random windows of the token stream, their targets the same windows one token later.
# * AdamW: per-weight step sizes from running means of the gradient and its square, with bias
#   correction, and weight decay applied to the weights directly.
# * Warmup then cosine decay; gradients clipped by their global norm.
# * A checkpoint holds weights, optimizer state, step, and every random generator's state: then a
#   resume is exact.
# * Perplexity = exp(mean loss) over every prediction of a text.
#
# Next, notebook 08 turns this storyteller into an assistant that answers questions. A last look
# at all the checks of this notebook:

# %%
check_all("training");
