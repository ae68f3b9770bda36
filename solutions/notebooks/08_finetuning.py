# Notebook 08 of the course: supervised fine-tuning and LoRA. Percent format: see grading/build.py.

# %% [markdown]
# # 08 · Fine-tuning: from a storyteller to an assistant
#
# The model you pretrained in notebook 07 has read thousands of stories about the course world. It
# *knows* that Mia has a red kite: it has read "Mia had a red kite." many times. But ask it
# "What colour is Mia's kite?" and it does not answer: it continues the text, the way its corpus
# continues such a line, usually with *another question*. Knowing is not answering.
#
# **Supervised fine-tuning** (SFT) teaches the format "a question, then its answer, then stop" with a
# few hundred short conversations, and a loss that only counts the answer. **LoRA** does the same
# while training only a small fraction of the weights. In this notebook you build both and
# *measure* what they change:
#
# | § | you implement in `course_lib/finetuning.py` | what for |
# |---|---|---|
# | 1 | `chat_template`: a conversation written with special tokens | the format the model learns |
# | 2 | `build_sft_example`: token ids, and labels -100 on the prompt | the loss sees the answer only |
# | 3 | `pad_collate`: examples of different lengths in one batch | batches |
# | 4 | `sft_loss`: next-token cross-entropy, answer tokens only | the objective |
# | 5 | `sft_step`: one optimisation step | the fine-tuning loop |
# | 6 | `LoRALinear`: a frozen layer plus a trainable low-rank update | parameter-efficient fine-tuning |
# | 7 | `LoRALinear.merge` / `unmerge`: fold the update into the weight | inference at no extra cost |
# | 8 | `inject_lora`: wrap the attention projections of a model, by name | LoRA on the GPT |
# | 9 | `count_parameters`: trainable and total | what LoRA saves |
#
# Each section explains the idea, asks you to write one piece, checks it on the spot
# (`check(...)` prints ✓ or tells you what to fix), and then uses your code on the real model.

# %% [setup]
from course_lib.checks import check, check_all, needs
from course_lib import device

print(device.describe())

# %% [markdown]
# The next cell imports what you will write and the pieces that are given. `autoreload` re-reads
# `course_lib/finetuning.py` each time you run a cell, so you can edit the file and re-run a check
# without restarting the kernel.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.finetuning

import copy
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from course_lib import data
from course_lib.finetuning import (
    PAD_TOKEN,
    SFT_SIZES,
    LoRALinear,
    answers,
    build_sft_example,
    chat_template,
    classify_continuation,
    continue_text,
    count_parameters,
    inject_lora,
    lora_modules,
    merge_and_unload,
    pad_collate,
    sft_examples,
    sft_loss,
    sft_step,
    train_sft,
    training_memory_bytes,
)

DEVICE = device.get_device()
MODE = device.run_mode()
SIZES = {  # how much we measure; the fine-tuning runs themselves are sized by SFT_SIZES[MODE]
    "smoke": {"failure_prompts": 8, "train_questions": 16, "test_questions": 16, "grammar_samples": 4},
    "quick": {"failure_prompts": 24, "train_questions": 59, "test_questions": None, "grammar_samples": 24},
    "full": {"failure_prompts": 48, "train_questions": None, "test_questions": None, "grammar_samples": 64},
}[MODE]
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")
if DEVICE.type == "cpu":
    from course_lib.device import configure_threads

    configure_threads()  # notebook 07: on a small model, more CPU threads are not always faster

# %% [markdown]
# ## The base model
#
# `course_gpt()` gives the GPT pretrained on the course corpus and its tokenizer: **your** model, if
# notebook 07 saved one, otherwise the course's reference model (loaded from the cache, or trained
# now in a few minutes). It says which one it uses. The tokenizer (notebook 01) registered the chat
# special tokens `<|user|>`, `<|assistant|>`, `<|end|>` and `<|pad|>` from the start, so the model
# already has an embedding row for each of them, never trained: pretraining text never contains them.
#
# *If an earlier notebook is not finished* (the tokenizer of 01, the GPT of 06 and the modules it is
# built from) and the next cell says so, uncomment its first line: it uses the course's versions of
# those modules for this session, and says so.

# %%
# from course_lib.earlier import use_reference; use_reference("tokenization", "embeddings", "positional", "attention", "encoder", "decoder")
from course_lib.pretrained import course_gpt, save_stage

base_model = tokenizer = None
with needs():
    base_model, tokenizer, info = course_gpt(device=DEVICE)   # says which model; ⏸ if earlier code is missing
    base_model.eval()
    PAD_ID = tokenizer.special_tokens[PAD_TOKEN]
    BLOCK = base_model.config.block_size      # the longest text the model reads at once
    n_params = sum(p.numel() for p in base_model.parameters())
    print(f"{n_params:,} parameters, context of {BLOCK} tokens; vocabulary of {tokenizer.vocab_size:,} tokens; "
          f"special tokens: {tokenizer.special_tokens}")


def need_model():
    """Skip the rest of a cell, with a message, when the cell above could not provide the model."""
    if base_model is None:
        raise NotImplementedError("the pretrained model, which course_gpt() above could not provide")

# %% [markdown]
# ## The problem, measured: a question gets another question
#
# Give the base model a plain question about the world and let it continue (greedy: always the most
# likely next token). The corpus has, after some stories, a line of reading questions without
# answers, like a school worksheet, and then the text ends. So the most likely continuation of a
# question is... another question, or the end of the text (`<|endoftext|>`) and a new story.
# `classify_continuation` sorts each continuation: **question** (its first sentence ends with "?"),
# **story** (a longer statement, or `<|endoftext|>` and a new story), or **answer** (a short
# phrase, at most four words).

# %%
def shares(continuations):
    """Share of each kind of continuation ("question", "story", "answer", "nothing")."""
    kinds = [classify_continuation(c) for c in continuations]
    return {kind: kinds.count(kind) / len(kinds) for kind in ("question", "story", "answer", "nothing")}


def show_shares(label, continuations):
    print(f"{label}: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares(continuations).items()))


failure_prompts = data.base_model_failure_prompts(n=SIZES["failure_prompts"])
with needs():
    need_model()
    base_continuations = [continue_text(base_model, tokenizer, q, 24, stop_at_end=False, stop_at_endoftext=False) for q in failure_prompts]
    for question, text in list(zip(failure_prompts, base_continuations))[:6]:
        print(f"{question!r:45} -> {text.strip()[:90]!r}  [{classify_continuation(text)}]")
    show_shares(f"\nbase model, {len(failure_prompts)} plain questions", base_continuations)

# %% [markdown]
# The cell above printed the share of each kind of continuation. A base model answers only by
# accident: nothing in its training ever showed a question *followed by its answer*. What it needs
# is a **format**: a way to say "this is a question from a user; now the assistant answers; now the
# answer is over". That is the chat template.

# %% [markdown]
# ## §1 The chat template
#
# Chat models wrap each turn in special tokens. Ours is the smallest useful template:
#
#     <|user|>Where does Mia live?<|assistant|> near the lake<|end|>
#
# * the **prompt** is everything up to and including `<|assistant|>`: at answer time, the model
#   gets the prompt and writes the rest;
# * the answer follows after **one space**, so that its words are tokenized exactly as in the
#   stories (" lake" with its space is one familiar token; "lake" without it may be another);
# * `<|end|>` closes the answer: the model learns to write it, and generation stops there.
#
# Special tokens are single ids that ordinary text can never produce, which makes the boundaries
# unambiguous. (`course_lib.data.chat_prompt` is the same idea in plain text, "User: ...\nAssistant:",
# for models without special tokens.)
#
# **Your turn.** In `course_lib/finetuning.py`, implement `chat_template(question, answer=None)`:
# the prompt alone when `answer` is None, the whole conversation otherwise; strip the whitespace
# around the question and the answer.
#
# <details><summary>Hint 1</summary>The constants USER_TOKEN, ASSISTANT_TOKEN and END_TOKEN hold the three special tokens.</details>
# <details><summary>Hint 2</summary>Build the prompt first; if there is an answer, append a space, the answer and the end token.</details>
# <details><summary>Hint 3</summary><code>prompt = f"{USER_TOKEN}{question.strip()}{ASSISTANT_TOKEN}"</code>, then the same kind of f-string for the answer.</details>

# %% [test finetuning.chat_template points=1 hidden]

# %% [markdown]
# Here is a conversation as the model will read it, token by token (`tokenizer.pieces` shows each
# token's text). The special tokens are one id each.

# %%
question, answer = "Where does Mia live?", "near the lake"
with needs():
    need_model()
    conversation = chat_template(question, answer)
    print(conversation)
    print(tokenizer.pieces(conversation))

# %% [markdown]
# ## §2 An SFT example: the loss sees the answer only
#
# A fine-tuning example is the token ids of one conversation, plus **labels** saying which tokens
# the loss should count. We train on the answer (and its `<|end|>`) only: the questions are given,
# the model is not asked to learn to write them. Positions the loss must skip get the label
# **-100**, the value PyTorch's `F.cross_entropy` ignores (its `ignore_index`).
#
#     tokens   <|user|>  Where  does  Mia  live  ?  <|assistant|>   near  the  lake  <|end|>
#     labels     -100    -100   -100  -100 -100 -100    -100        near  the  lake  <|end|>
#
# Labels are **not shifted** here: `labels[t]` is the token *at* position t (or -100). The loss of §4
# does the shift (the prediction made at t is scored against the token at t + 1), as Hugging Face
# models do. Shift in both places and every answer token is scored against the one after it.
#
# **Your turn.** Implement `build_sft_example(tokenizer, question, answer)`, returning
# `{"input_ids": ids, "labels": labels}` (two lists of ints).
#
# <details><summary>Hint 1</summary>Encode <code>chat_template(question, answer)</code> with <code>allowed_special="all"</code>, so that the special tokens become their ids (the default refuses special-token text, so that a user cannot type one in).</details>
# <details><summary>Hint 2</summary>How many tokens is the prompt? Encode <code>chat_template(question)</code> the same way and take its length. Because the prompt ends with a special token, the conversation's ids start with exactly the prompt's ids.</details>
# <details><summary>Hint 3</summary><code>labels = [IGNORE_INDEX] * n_prompt + ids[n_prompt:]</code></details>

# %% [test finetuning.sft_example points=2 hidden]

# %%
with needs():
    need_model()
    example = build_sft_example(tokenizer, question, answer)
    print(f"{'token':>16}  {'id':>5}  label")
    for token_id, label in zip(example["input_ids"], example["labels"]):
        print(f"{tokenizer.decode([token_id])!r:>16}  {token_id:>5}  {label}")

# %% [markdown]
# The training questions come from `course_lib.data.qa_pairs("train")`; the test questions ask about
# **other facts** (`qa_pairs("test")`): no test fact is ever asked in training, in any wording. The
# model has read those facts in its pretraining stories only. So test accuracy will tell whether SFT
# taught a *format* that unlocks what pretraining stored, or merely the training answers.

# %%
train_pairs, test_pairs = data.qa_pairs("train"), data.qa_pairs("test")
train_facts, test_facts = {p.fact_id for p in train_pairs}, {p.fact_id for p in test_pairs}
print(f"{len(train_pairs)} training questions about {len(train_facts)} facts; "
      f"{len(test_pairs)} test questions about {len(test_facts)} other facts (shared: {len(train_facts & test_facts)})")
for pair in train_pairs[:4]:
    print(f"  {pair.question!r} -> {pair.answer!r}   ({pair.fact_id})")
with needs():
    need_model()
    train_examples = sft_examples(tokenizer, train_pairs, max_len=BLOCK)
    lengths = [len(e["input_ids"]) for e in train_examples]
    print(f"examples: {len(train_examples)} (of {len(train_pairs)}; longer than the context: left out), "
          f"{min(lengths)} to {max(lengths)} tokens, "
          f"{sum(sum(l != -100 for l in e['labels']) for e in train_examples) / len(train_examples):.1f} "
          "answer tokens each on average")

# %% [markdown]
# ## §3 Padding a batch
#
# A batch is a rectangle, but conversations have different lengths. We **pad** the short ones on
# the right with the `<|pad|>` id. Two details matter:
#
# * the padded **labels** are -100, so the padding never counts in the loss;
# * padding goes on the **right**. A causal model never looks to the right, so the real tokens are
#   computed exactly as without padding, and no attention mask is needed. (We return one anyway,
#   `attention_mask`, True at real tokens: other models and batched generation need it.)
#
# **Your turn.** Implement `pad_collate(examples, pad_id)`, returning a dict of three (B, T)
# tensors: `input_ids` (long), `labels` (long) and `attention_mask` (bool).
#
# <details><summary>Hint 1</summary>T is the length of the longest example.</details>
# <details><summary>Hint 2</summary>Start from tensors full of pad_id, full of -100 and full of False (<code>torch.full</code>, <code>torch.zeros</code>), then copy each example into the start of its row.</details>
# <details><summary>Hint 3</summary><code>input_ids[row, :n] = torch.tensor(example["input_ids"])</code>, and the same for the labels and the mask.</details>

# %% [test finetuning.pad_collate points=1 hidden]

# %%
with needs():
    need_model()
    batch = pad_collate([build_sft_example(tokenizer, p.question, p.answer) for p in train_pairs[:3]], PAD_ID)
    for key, value in batch.items():
        print(f"{key}: {tuple(value.shape)} {value.dtype}\n{value}")

# %% [markdown]
# ## §4 The loss on the answer tokens
#
# A language model's output at position t is its guess for the token at t + 1. So the loss compares
# `logits[:, t]` with `labels[:, t + 1]`: drop the last position of the logits (nothing comes after
# it) and the first of the labels (nothing predicts it), then let the cross-entropy skip the -100s.
# The mean is over the answer tokens of the whole batch (every answer token weighs the same).
#
# **Your turn.** Implement `sft_loss(logits, labels)`.
#
# <details><summary>Hint 1</summary>Shapes: logits (B, T, vocab) and labels (B, T). After the shift: (B, T-1, vocab) and (B, T-1).</details>
# <details><summary>Hint 2</summary><code>F.cross_entropy</code> wants (N, vocab) and (N,): reshape both; its <code>ignore_index</code> argument skips the -100s and averages over the rest.</details>
# <details><summary>Hint 3</summary><code>logits[:, :-1]</code> against <code>labels[:, 1:]</code>.</details>

# %% [test finetuning.sft_loss points=2 hidden]

# %% [markdown]
# Before any fine-tuning, how surprised is the base model by the answers? A loss of $\ln V$ would
# mean a uniform guess over the whole vocabulary; the cell prints both.

# %%
import math


@torch.no_grad()
def answer_loss(model, examples, batch_size=32):
    """Mean sft_loss over `examples` (the answer tokens only), in evaluation mode."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        batch = pad_collate(chunk, PAD_ID)
        n_tokens = int((batch["labels"][:, 1:] != -100).sum())
        loss = sft_loss(model(batch["input_ids"].to(DEVICE)), batch["labels"].to(DEVICE))
        total, count = total + float(loss) * n_tokens, count + n_tokens
    return total / count


with needs():
    need_model()
    base_answer_loss = answer_loss(base_model, sft_examples(tokenizer, train_pairs, max_len=BLOCK))
    print(f"base model, loss on the training answers: {base_answer_loss:.3f} "
          f"(uniform guess: ln {tokenizer.vocab_size} = {math.log(tokenizer.vocab_size):.3f})")

# %% [markdown]
# ## §5 One SFT step, and the fine-tuning run
#
# One step is notebook 07's `train_step` with the loss of §4: training mode, forward, loss, reset the
# old gradients (PyTorch *adds* new gradients to old ones), backward, clip the gradient norm, step.
#
# **Your turn.** Implement `sft_step(model, batch, optimizer, *, max_grad_norm=1.0)`. It returns the
# loss of the batch before the step, as a Python float.
#
# <details><summary>Hint 1</summary>The batch's tensors are already moved to the model's device for you (<code>input_ids</code>, <code>labels</code>).</details>
# <details><summary>Hint 2</summary>Order: <code>model.train()</code>, loss, <code>optimizer.zero_grad()</code>, <code>loss.backward()</code>, clip, <code>optimizer.step()</code>.</details>
# <details><summary>Hint 3</summary>Clip only what trains: <code>torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_grad_norm)</code> when max_grad_norm is not None; return <code>loss.item()</code>.</details>

# %% [test finetuning.sft_step points=2 hidden]

# %% [markdown]
# ### Measuring a model: before
#
# Three measurements, the same before and after fine-tuning:
#
# * **QA exact match** (`course_lib.data.qa_accuracy`): ask each question with the chat template,
#   take the model's greedy answer up to `<|end|>`, compare with the true answer (ignoring case and a
#   final period). On the **test** facts (never seen as questions) and, beside it, on **training**
#   facts;
# * **continuations** of the plain questions of the first section (question, story, answer);
# * **grammar validity** of free generation (notebook 07's measure: the share of sampled sentences
#   the world's grammar accepts): what, if anything, fine-tuning cost the model's writing.

# %%
from course_lib.training import grammar_validity


def limit(pairs, n):
    return pairs if n is None else pairs[:n]


eval_test = limit(test_pairs, SIZES["test_questions"])
eval_train = limit(train_pairs, SIZES["train_questions"])


def measure(model, name):
    """QA accuracy on test and train facts, continuations of plain questions, grammar validity."""
    started = time.perf_counter()
    test_answers = answers(model, tokenizer, [p.question for p in eval_test])
    train_answers = answers(model, tokenizer, [p.question for p in eval_train])
    prompts = [chat_template(q) for q in failure_prompts]
    chat_continuations = [continue_text(model, tokenizer, p, 24) for p in prompts]
    report, _ = grammar_validity(model, tokenizer, n=SIZES["grammar_samples"], seed=0)
    result = {"model": name,
              "test accuracy": data.qa_accuracy(test_answers, eval_test),
              "train accuracy": data.qa_accuracy(train_answers, eval_train),
              "answers (chat template)": shares(chat_continuations)["answer"],
              "questions (chat template)": shares(chat_continuations)["question"],
              "grammar validity": report.valid_fraction,
              "examples": list(zip(eval_test[:5], test_answers[:5]))}
    print(f"{name}: test accuracy {100 * result['test accuracy']:.1f}% ({len(eval_test)} questions), "
          f"train accuracy {100 * result['train accuracy']:.1f}% ({len(eval_train)}), "
          f"answers {100 * result['answers (chat template)']:.0f}% / questions "
          f"{100 * result['questions (chat template)']:.0f}% of chat-template continuations, "
          f"grammar validity {100 * result['grammar validity']:.1f}% ({report.n_sentences} sentences) "
          f"[{time.perf_counter() - started:.0f} s]")
    return result


base_results = None
with needs():
    need_model()
    base_results = measure(base_model, "base")
    for pair, predicted in base_results["examples"]:
        print(f"  {pair.question!r:45} -> {predicted!r:30} (true: {pair.answer!r})")

# %% [markdown]
# The base model has never seen `<|user|>` or `<|assistant|>` (their embedding rows are still as
# initialised), so the template means nothing to it yet: the cell above printed how often its
# continuation nevertheless matches the answer.
#
# A second reference: how far does the *format* alone go, without any knowledge of the world? A
# guesser that has learned the training answers and nothing else answers each test question with the
# most common training answer to questions of the same kind and opening ("What colour..." -> the most
# frequent colour, "Where does..." -> the most frequent place). Anything a fine-tuned model scores on
# the test facts above this line, it knows from its pretraining stories.

# %%
from collections import Counter, defaultdict


def opening(pair):
    """The kind of fact and the first two words: ("object", "What colour"), ("home", "Where does")..."""
    return pair.kind, " ".join(pair.question.split()[:2])


answers_by_opening = defaultdict(Counter)
for pair in train_pairs:
    answers_by_opening[opening(pair)][pair.answer] += 1
most_common = Counter(pair.answer for pair in train_pairs).most_common(1)[0][0]
guesses = [answers_by_opening[opening(p)].most_common(1)[0][0] if answers_by_opening[opening(p)] else most_common
           for p in eval_test]
format_only_accuracy = data.qa_accuracy(guesses, eval_test)
print(f"format-only guesser, test accuracy: {100 * format_only_accuracy:.1f}% ({len(eval_test)} questions)")

# %% [markdown]
# ### Full fine-tuning
#
# Now fine-tune a copy of the base model: every weight trains, with AdamW and notebook 07's schedule
# (`train_sft`, given, calls your `sft_step` for each batch). The curve shows the loss on the answer
# tokens.

# %%
def plot_losses(histories, title):
    fig, ax = plt.subplots(figsize=(8, 3))
    for label, history in histories.items():
        losses = torch.tensor(history.losses)
        window = max(1, len(losses) // 20)
        smooth = losses.unfold(0, window, 1).mean(1) if len(losses) >= window else losses
        ax.plot(range(window - 1, window - 1 + len(smooth)), smooth.numpy(), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss on the answer tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    plt.show()


full_history = sft_results = None
with needs():
    need_model()
    train_examples = sft_examples(tokenizer, train_pairs, max_len=BLOCK)
    full_config = SFT_SIZES[MODE]["full"]
    sft_model = copy.deepcopy(base_model)
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    full_history = train_sft(sft_model, train_examples, PAD_ID, full_config)
    full_peak = torch.cuda.max_memory_allocated() if DEVICE.type == "cuda" else None
    print(f"full fine-tuning: {full_config.steps} steps of {full_config.batch_size} conversations in "
          f"{full_history.seconds:.1f} s; loss {full_history.losses[0]:.3f} -> "
          f"{sum(full_history.losses[-10:]) / len(full_history.losses[-10:]):.3f}")
    plot_losses({"full fine-tuning": full_history}, "SFT: loss on the answer tokens")

# %% [markdown]
# ### Measuring a model: after

# %%
with needs():
    need_model()
    if full_history is None:
        raise NotImplementedError("the fine-tuned model of the cell above, which needs your code of §1-§5")
    sft_model.eval()
    sft_results = measure(sft_model, "SFT (full)")
    for pair, predicted in sft_results["examples"]:
        print(f"  {pair.question!r:45} -> {predicted!r:30} (true: {pair.answer!r})")
    sft_plain = [continue_text(sft_model, tokenizer, q, 24, stop_at_end=False, stop_at_endoftext=False) for q in failure_prompts]
    show_shares("\nthe plain questions of the start, to the SFT model (no template)", sft_plain)

# %% [markdown]
# Read the printed figures side by side with the base model's:
#
# * **Format.** With the chat template, the SFT model's continuations are short answers that stop at
#   `<|end|>`, where the base model wrote questions and stories.
# * **Knowledge.** The test accuracy counts facts that were *never* asked during fine-tuning. What it
#   scores above the format-only guesser, it knows from the pretraining stories: SFT taught the
#   format, and the format unlocked the knowledge. The gap to the train accuracy is what memorising
#   the training answers adds on top.
# * **Cost.** The grammar validity of free generation shows what fine-tuning on short answers did to
#   the model's storytelling: compare it with the base model's. A model trained only on answers drifts
#   away from what it was (*catastrophic forgetting*); a smaller learning rate, fewer steps, or some
#   pretraining text mixed into the fine-tuning batches limit the damage. LoRA, which changes far fewer
#   weights, is often said to forget less: the side-by-side table below lets you test that claim here.
#
# Save this model: notebook 09 (RLHF) starts from it.

# %%
with needs():
    if sft_results is not None:
        path = save_stage("sft", sft_model, tokenizer, extra={
            "recipe": "full fine-tuning", "mode": MODE, "steps": full_config.steps,
            "test_accuracy": sft_results["test accuracy"], "train_accuracy": sft_results["train accuracy"]})
        print(f"saved the SFT model to {path}")

# %% [markdown]
# ## §6 LoRA: a low-rank update beside a frozen weight
#
# Full fine-tuning updates every weight, and keeps for each one a gradient and two Adam statistics:
# four copies of the model in memory, and a full copy to store per fine-tuned task. LoRA (Hu et al.,
# 2021) freezes the pretrained weight $W$ (out × in) and learns a *low-rank* update beside it:
#
# $$y = W x + b + \frac{\alpha}{r}\, B A\, x, \qquad A \in \mathbb{R}^{r \times in},\; B \in \mathbb{R}^{out \times r},\; r \ll in, out.$$
#
# Only $A$ and $B$ train: $r \cdot (in + out)$ numbers instead of $in \cdot out$. Three details:
#
# * **B starts at zero**, so $BA = 0$ and the wrapped layer computes *exactly* what the pretrained one
#   did: fine-tuning starts from the pretrained model, not from a perturbed one. $A$ starts random
#   (like an `nn.Linear`'s weight): if both were zero, no gradient would ever reach either.
# * The update is scaled by $\alpha / r$: with this scale, the size of the update at initialisation
#   and the best learning rate change little when you try another rank $r$.
# * The base weight and bias are **frozen** (`requires_grad_(False)`): no gradient, no optimizer state.
#
# **Your turn.** Complete `LoRALinear.__init__` (freeze the base, create `lora_A` (r, in) and `lora_B`
# (out, r) as `nn.Parameter`s on the base weight's device and dtype, set `self.scaling`) and
# `LoRALinear.forward`.
#
# <details><summary>Hint 1</summary><code>base.weight.requires_grad_(False)</code>, and the same for the bias when there is one.</details>
# <details><summary>Hint 2</summary><code>nn.Parameter(torch.zeros(out, r, device=..., dtype=...))</code> for B; for A an empty (r, in) Parameter filled by <code>nn.init.kaiming_uniform_(..., a=math.sqrt(5))</code>, as nn.Linear initialises its weight.</details>
# <details><summary>Hint 3</summary>forward: <code>self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)</code>. Multiplying by A first keeps the intermediate small: (..., r).</details>

# %% [test finetuning.lora_layer points=2 hidden]

# %% [markdown]
# Wrap one of the model's attention projections and compare: before any training the outputs are the
# same, bit for bit, and only the two small matrices train.

# %%
with needs():
    need_model()
    attn = copy.deepcopy(base_model.blocks[0].attn)
    x = torch.randn(2, 5, base_model.config.d_model, device=DEVICE)
    with torch.no_grad():
        before = attn.q_proj(x)
        wrapped = LoRALinear(attn.q_proj, r=8, alpha=16)
        print("wrapped q_proj:", wrapped)
        print("largest difference with the original layer:", float((wrapped(x) - before).abs().max()))
    for name, parameter in wrapped.named_parameters():
        print(f"  {name:12} {tuple(parameter.shape)!s:12} trainable={parameter.requires_grad}")

# %% [markdown]
# ## §7 Merging: LoRA at no cost at inference
#
# After training, $W' = W + \frac{\alpha}{r} BA$ is an ordinary (out × in) matrix: add the update into
# the weight once, and the layer costs one matmul again, exactly as before fine-tuning. `unmerge`
# subtracts it to get the separate adapter back (to keep training it, or to swap in another task's
# adapter: one base model, many small adapters).
#
# **Your turn.** Implement the weight update in `LoRALinear.merge` and `LoRALinear.unmerge` (the
# `merged` flag and the "already merged" guard are given; `forward` skips the update path when merged).
#
# <details><summary>Hint 1</summary><code>self.lora_B @ self.lora_A</code> has the weight's shape (out, in).</details>
# <details><summary>Hint 2</summary>Change the weight in place (<code>+=</code>, <code>-=</code>); the method runs under <code>torch.no_grad()</code>, so autograd does not object. Do not forget the scale.</details>

# %% [test finetuning.lora_merge points=1 hidden]

# %%
with needs():
    need_model()
    wrapped = LoRALinear(copy.deepcopy(base_model.blocks[0].attn.q_proj), r=8, alpha=16)
    with torch.no_grad():
        wrapped.lora_B.normal_(std=0.05)          # pretend it was trained
    with torch.no_grad():
        unmerged_out = wrapped(x)
        wrapped.merge()
        merged_out = wrapped(x)
    print("merged:", wrapped.merged, "| largest difference merged vs unmerged outputs:",
          float((merged_out - unmerged_out).abs().max()))
    wrapped.unmerge()
    original_weight = base_model.blocks[0].attn.q_proj.weight
    print("after unmerge, largest difference with the original weight:",
          float((wrapped.base.weight - original_weight).detach().abs().max()))

# %% [markdown]
# (Differences of about 1e-7 are float32 rounding: the merged layer adds the numbers in another order.)
#
# ## §8 Injecting LoRA into the GPT
#
# To LoRA-fy a model, freeze all of it, then replace chosen `nn.Linear` layers by `LoRALinear`
# wrappers, found **by name**. The usual choice is the attention projections `q_proj`, `k_proj`,
# `v_proj` and `out_proj` (notebook 04 kept them as four separate layers partly for this). The model's
# code does not change: `attn.q_proj(x)` now calls the wrapper.
#
# **Your turn.** Implement `inject_lora(model, r, alpha, dropout, targets)`: freeze every parameter,
# replace each `nn.Linear` child whose own name is in `targets`, and return the dotted names of the
# replaced layers.
#
# <details><summary>Hint 1</summary>Freeze first (<code>model.requires_grad_(False)</code>): the adapters you create afterwards stay trainable.</details>
# <details><summary>Hint 2</summary>Walk <code>list(model.named_modules())</code> (a list: you change the model while walking) and, for each module, its <code>named_children()</code>; replace a child with <code>setattr(parent, child_name, LoRALinear(child, ...))</code>.</details>
# <details><summary>Hint 3</summary>The dotted name is <code>f"{parent_name}.{child_name}"</code> (just child_name at the top level).</details>

# %% [test finetuning.inject_lora points=2 hidden]

# %% [markdown]
# ## §9 Counting parameters
#
# **Your turn.** Implement `count_parameters(model)` → `(trainable, total)`. The GPT's embedding and
# LM head share one matrix (notebook 06): it must count once.
#
# <details><summary>Hint 1</summary><code>model.parameters()</code> lists a shared parameter once (<code>state_dict()</code> would list it twice).</details>
# <details><summary>Hint 2</summary>Sum <code>p.numel()</code> over all of them, and over those with <code>p.requires_grad</code>.</details>

# %% [test finetuning.count_parameters points=1 hidden]

# %%
lora_sizes = SFT_SIZES[MODE]
with needs():
    need_model()
    full_trainable, full_total = count_parameters(copy.deepcopy(base_model).requires_grad_(True))
    print(f"full fine-tuning trains {full_trainable:,} of {full_total:,} parameters")
    for r in (1, 4, lora_sizes["lora_r"], 32):
        demo = copy.deepcopy(base_model)
        wrapped_names = inject_lora(demo, r=r, alpha=2 * r)
        trainable, total = count_parameters(demo)
        print(f"LoRA r={r:<3} on {len(wrapped_names)} layers trains {trainable:>9,} of {total:,} "
              f"({100 * trainable / total:.2f}%)")
    print("the wrapped layers:", wrapped_names[:4], "...")

# %% [markdown]
# ### Full fine-tuning against LoRA, side by side
#
# Same data, same number of steps; LoRA gets a larger learning rate (its adapters start at zero and
# are few). Time is the wall-clock time of the training loop. Memory is what training keeps besides
# the activations: the weights, one gradient per trainable parameter and Adam's two statistics per
# trainable parameter (`training_memory_bytes`); on a GPU the measured peak is printed too.

# %%
lora_results = None
with needs():
    need_model()
    train_examples = sft_examples(tokenizer, train_pairs, max_len=BLOCK)
    lora_config = SFT_SIZES[MODE]["lora"]
    lora_model = copy.deepcopy(base_model)
    inject_lora(lora_model, r=lora_sizes["lora_r"], alpha=lora_sizes["lora_alpha"])
    lora_trainable, lora_total = count_parameters(lora_model)
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    lora_history = train_sft(lora_model, train_examples, PAD_ID, lora_config)
    lora_peak = torch.cuda.max_memory_allocated() if DEVICE.type == "cuda" else None
    lora_memory = training_memory_bytes(lora_model)
    lora_model.eval()
    lora_results = measure(lora_model, f"SFT (LoRA r={lora_sizes['lora_r']})")
    plot_losses({"full fine-tuning": full_history, "LoRA": lora_history}, "full fine-tuning vs LoRA")

# %%
with needs():
    if sft_results is not None and lora_results is not None and base_results is not None:
        full_memory = training_memory_bytes(copy.deepcopy(base_model).requires_grad_(True))
        rows = [
            ("test accuracy (held-out facts)", f"{100 * sft_results['test accuracy']:.1f}%",
             f"{100 * lora_results['test accuracy']:.1f}%"),
            ("train accuracy", f"{100 * sft_results['train accuracy']:.1f}%", f"{100 * lora_results['train accuracy']:.1f}%"),
            ("answers to chat prompts", f"{100 * sft_results['answers (chat template)']:.0f}%",
             f"{100 * lora_results['answers (chat template)']:.0f}%"),
            ("grammar validity", f"{100 * sft_results['grammar validity']:.1f}%",
             f"{100 * lora_results['grammar validity']:.1f}%"),
            ("trainable parameters", f"{full_trainable:,}", f"{lora_trainable:,}"),
            ("training time", f"{full_history.seconds:.1f} s", f"{lora_history.seconds:.1f} s"),
            ("weights + grads + Adam", f"{full_memory['total'] / 2**20:.2f} MiB", f"{lora_memory['total'] / 2**20:.2f} MiB"),
        ]
        if full_peak is not None:
            rows.append(("measured peak (GPU)", f"{full_peak / 2**20:.1f} MiB", f"{lora_peak / 2**20:.1f} MiB"))
        print(f"{'':34}{'full fine-tuning':>20}{'LoRA':>16}")
        for label, full_value, lora_value in rows:
            print(f"{label:34}{full_value:>20}{lora_value:>16}")
        print(f"\nbase model for comparison: test accuracy {100 * base_results['test accuracy']:.1f}%, "
              f"train accuracy {100 * base_results['train accuracy']:.1f}%, grammar validity "
              f"{100 * base_results['grammar validity']:.1f}%; format-only guesser: test accuracy "
              f"{100 * format_only_accuracy:.1f}%")

# %% [markdown]
# The table above is measured, not claimed: compare the two columns yourself. On a model this small,
# training time is dominated by the forward and backward passes, which LoRA does not shorten (it even
# adds a little work); its savings are in what training must *keep*: gradients and optimizer state for
# the adapters only. On a large model that is the difference between needing several GPUs and needing
# one. The next cell does the arithmetic for a model of the size of Llama 2 7B (32 layers of width
# 4096), with the same rule: weights, plus a gradient and two Adam statistics per trainable parameter.

# %%
n_big, layers, width, r_big = 7e9, 32, 4096, 16
adapters = layers * 4 * r_big * (width + width)        # LoRA on q, k, v and out of every layer
full_gib = n_big * (4 + 4 + 8) / 2**30                 # float32 weights, gradients, Adam's two statistics
lora_gib = (n_big * 2 + adapters * (4 + 4 + 8)) / 2**30  # frozen bfloat16 weights + float32 adapters
print(f"7B model, full fine-tuning with Adam: about {full_gib:.0f} GiB before activations")
print(f"7B model, LoRA r={r_big} on the attention projections: {adapters / 1e6:.1f} M trainable parameters "
      f"({100 * adapters / n_big:.2f}%), about {lora_gib:.0f} GiB; the adapter file: {adapters * 2 / 2**20:.0f} MiB "
      "in bfloat16")

# %% [markdown]
# A LoRA adapter is saved in tens of megabytes instead of a full copy of the model, so one base model
# can serve many tasks, each with its own small adapter.
#
# After training, merge the adapters into the weights (`merge_and_unload`): the LoRA model becomes an
# ordinary GPT again, exactly as fast as the base model.

# %%
with needs():
    if lora_results is not None:
        ids = torch.tensor([tokenizer.encode(chat_template(test_pairs[0].question), allowed_special="all")],
                           device=DEVICE)
        with torch.no_grad():
            before_merge = lora_model(ids)
            merge_and_unload(lora_model)
            after_merge = lora_model(ids)
        print("LoRA layers left after merge_and_unload:", len(lora_modules(lora_model)))
        print("largest logit difference, adapters vs merged:", float((after_merge - before_merge).abs().max()))

# %% [markdown]
# ## Talk to the models
#
# Type a question about the course world (or pick one: the list holds test questions, about facts the
# fine-tuning never asked about). The base model gets the plain question, its natural format; the
# fine-tuned models get the chat template.

# %%
def ask(question):
    question = question.strip()
    if not question:
        return
    rows = [("base model (plain text)", continue_text(base_model, tokenizer, question, 24, stop_at_end=False, stop_at_endoftext=False))]
    if sft_results is not None:
        rows.append(("SFT, full fine-tuning", continue_text(sft_model, tokenizer, chat_template(question), 16)))
    if lora_results is not None:
        rows.append(("SFT, LoRA (merged)", continue_text(lora_model, tokenizer, chat_template(question), 16)))
    truth = {p.question: p.answer for p in train_pairs + test_pairs}.get(question)
    print(f"Q: {question}" + (f"   (true answer: {truth})" if truth else ""))
    for name, text in rows:
        print(f"  {name:24} {text.strip()!r}")


question_box = widgets.Combobox(value=test_pairs[0].question, options=[p.question for p in test_pairs[:40]],
                                placeholder="type a question", description="question", layout={"width": "600px"},
                                ensure_option=False)
output = widgets.Output()


def on_change(change=None):
    output.clear_output()
    with output:
        with needs():
            need_model()
            ask(question_box.value)


question_box.observe(on_change, names="value")
on_change()
display(widgets.VBox([question_box, output]))

# %% [markdown]
# ## Summary
#
# * A pretrained model continues text; it does not answer. The chat template gives it a format, and
#   supervised fine-tuning on a few hundred conversations teaches that format.
# * The loss counts the answer tokens only: labels -100 on the prompt and on the padding, one shift
#   between logits and labels (in one place only).
# * Test questions about facts never asked in fine-tuning are answered from what pretraining stored:
#   SFT unlocks knowledge more than it adds any.
# * LoRA trains a low-rank update $\frac{\alpha}{r}BA$ beside frozen weights: a small fraction of the
#   parameters, much less training memory, and after merging no cost at all at inference.
#
# Next, notebook 09 starts from the SFT model you saved and teaches it *preferences*: a reward model,
# then reinforcement learning (PPO) and DPO. A last look at all the checks of this notebook:

# %%
check_all("finetuning");
