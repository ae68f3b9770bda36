# Notebook 09 of the course: RLHF. Percent format: see grading/build.py.

# %% [markdown]
# # 09 · RLHF: teaching a model what people prefer
#
# After notebook 08 the model answers questions. But *how* it answers was never taught: people
# prefer an answer that is polite, says what was asked, and stops. Nobody can write that down as a
# loss, yet anyone can compare two answers and say which one is better. **Reinforcement learning
# from human feedback** (RLHF) turns such comparisons into a better model, in three moves:
#
# 1. collect comparisons ("answer A is better than answer B");
# 2. fit a **reward model** that scores an answer the way the raters would (Bradley–Terry);
# 3. make the policy (the language model) produce high-reward answers, without drifting far
#    from where it started: **PPO** with a KL penalty (InstructGPT, ChatGPT), or skip the reward
#    model altogether with **DPO**, or drop PPO's value model with **GRPO** (DeepSeek).
#
# Our raters are a hidden rule (`course_lib.data.preference_pairs`), with 10% of their labels
# flipped, like real, noisy people. Because the rule is known to the course, every step can be
# *measured*: how often the model's answers show the behaviour the raters want, before and after.
#
# | § | you implement in `course_lib/rlhf.py` | used for |
# |---|---|---|
# | 1 | `RewardModel.forward`: a GPT with a scalar head, read at the last real token | the reward model |
# | 2 | `bradley_terry_loss`: −log σ(r_chosen − r_rejected) | training it on comparisons |
# | 3 | `token_logprobs`: log p(next token) at every position | everything below |
# | 4 | `sequence_logprob`: log π(answer \| prompt), the answer tokens only | DPO |
# | 5 | `dpo_loss`: preferences → policy, no reward model | DPO |
# | 6 | `kl_penalized_rewards`: the score at the end, a KL penalty at every token | PPO |
# | 7 | `compute_gae`: generalized advantage estimation | PPO |
# | 8 | `ppo_clip_loss`, `value_loss`, `group_relative_advantages` | PPO and GRPO |
#
# The loops that put the pieces together (sampling, scoring, updating) are provided in the same
# file, below the exercises: read them once your parts pass their checks.

# %% [setup]
from course_lib.checks import check, check_all, needs
from course_lib import device

print(device.describe())

# %% [markdown]
# `autoreload` re-reads `course_lib/rlhf.py` when you edit it, so a check can be re-run without
# restarting the kernel. If anything ever looks stale: *Kernel → Restart*.

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.rlhf

import copy
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from course_lib import rlhf
from course_lib.data import (behaviour_flags, chat_prompt, preference_pairs, preference_score, preferred_rate,
                             qa_pairs, win_rate)
from course_lib.data.preferences import question_of
from course_lib.rlhf import (DPOConfig, GRPOConfig, PolicyWithValue, PPOConfig, Prompt, RewardModel,
                             RewardModelConfig, TokenizedPair, bradley_terry_loss, compute_gae, dpo_loss,
                             evaluate_policy, frozen_copy, group_relative_advantages, kl_penalized_rewards,
                             ppo_clip_loss, sample_answers, sequence_logprob, token_logprobs, value_loss)

DEVICE = device.get_device()
MODE = device.run_mode()
# Sizes per mode: "smoke" is the course's own test (seconds, results poor), "quick" a laptop CPU
# (about 5 minutes for the whole notebook), "full" a GPU (longer runs, better numbers).
SIZES = {
    "smoke": dict(pairs=200, test_pairs=100, style_steps=10, rm_steps=8, dpo_steps=4, ppo_steps=3, hack_steps=3,
                  grpo_steps=2, batch=8, eval_questions=12, eval_samples=1, max_new=16),
    "quick": dict(pairs=2000, test_pairs=500, style_steps=150, rm_steps=80, dpo_steps=60, ppo_steps=30,
                  hack_steps=30, grpo_steps=30, batch=48, eval_questions=59, eval_samples=2, max_new=24),
    "full": dict(pairs=6000, test_pairs=1000, style_steps=600, rm_steps=400, dpo_steps=300, ppo_steps=150,
                 hack_steps=150, grpo_steps=150, batch=64, eval_questions=59, eval_samples=8, max_new=32),
}[MODE]
# Every answer in this notebook is sampled at this temperature (see "How does the SFT model answer?").
TEMPERATURE = 0.7
torch.manual_seed(0)
print(f"computing on {DEVICE}, {MODE} mode")
NOTEBOOK_START = time.perf_counter()


def moving_average(values, window=None):
    """Each value averaged with the ones before it (a tenth of the run), for smoother curves."""
    window = window or max(1, len(values) // 10)
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]

# %% [markdown]
# This notebook runs your own `course_lib` modules from earlier notebooks: the tokenizer of 01,
# the attention of 04 inside the GPT of 06 (its `features` and `generate`), and, if no SFT model
# is saved yet, the fine-tuning recipe of 08. If one of them is not finished, uncomment its line
# in the next cell to use the course's reference instead, for this kernel session (it works where
# the course's `solutions/` folder is present; restart the kernel to go back to your own).

# %%
from course_lib.earlier import use_reference

# use_reference("tokenization")
# use_reference("attention")
# use_reference("decoder")
# use_reference("finetuning")

# %% [markdown]
# ## The starting point: the SFT model of notebook 08
#
# The next cell loads the model you fine-tuned in notebook 08 (saved as the stage `"sft"`). If
# there is none, it builds one with the course's recipe from notebook 08 (`sft_recipe`, on the
# course GPT that `course_gpt()` picks), says so, and keeps it for the next run as the stage
# `"sft-recipe-<mode>"` (delete that folder, or save your own `"sft"` in notebook 08, to change it).

# %%
from course_lib.finetuning import ASSISTANT_TOKEN, END_TOKEN, PAD_TOKEN, USER_TOKEN, sft_recipe
from course_lib.pretrained import course_gpt, load_stage, save_stage

with needs():
    stage = load_stage("sft", device=DEVICE)
    if stage is not None:
        sft_model, tokenizer, sft_info = stage
        print(f"Using YOUR SFT model from notebook 08 (stage 'sft', {sft_info['path']}).")
    elif (stage := load_stage(f"sft-recipe-{MODE}", device=DEVICE)) is not None:
        sft_model, tokenizer, sft_info = stage
        print(f"No 'sft' stage saved by notebook 08 yet: using the SFT model that an earlier run of this notebook "
              f"built with the course's recipe on {sft_info.get('base', 'the course GPT')} ({sft_info['path']}).")
    else:
        print("No 'sft' stage saved by notebook 08 yet: building one now with the course's recipe "
              "(finetuning.sft_recipe on the course GPT of notebook 07).")
        base_model, tokenizer, base_info = course_gpt(device=DEVICE)
        sft_model, _ = sft_recipe(base_model, tokenizer, mode=MODE, verbose=True)
        base = "your GPT of notebook 07" if base_info.get("source") == "yours" else "the course's reference GPT"
        print(f"saved for the next run: {save_stage(f'sft-recipe-{MODE}', sft_model, tokenizer, extra={'base': base, 'mode': MODE})}")
    sft_model.eval()
    END_ID = tokenizer.special_tokens[END_TOKEN]
    PAD_ID = tokenizer.special_tokens[PAD_TOKEN]
    # A prompt and its answer must fit in the model's context (block_size tokens).
    BLOCK = sft_model.config.block_size
    MAX_NEW = min(SIZES["max_new"], max(4, BLOCK - 20))     # tokens an answer may have when sampled
    MAX_PROMPT = BLOCK - MAX_NEW                             # longer prompts are left out
    print(f"the model: {sum(p.numel() for p in sft_model.parameters()):,} parameters, "
          f"vocabulary of {sft_model.config.vocab_size} tokens, context of {BLOCK} tokens")

# %% [markdown]
# Prompts are written with notebook 08's chat template, `<|user|>question<|assistant|>`, and an
# answer follows after a space and ends with `<|end|>`. The hidden rule reads the same question in
# the data's plain format (`chat_prompt`). `Prompt` keeps both, and the true answer, to measure
# correctness.

# %%
def prompt_ids(question):
    return tokenizer.encode(f"{USER_TOKEN}{question.strip()}{ASSISTANT_TOKEN}", allowed_special="all")


def answer_ids(answer):
    return tokenizer.encode(" " + answer.strip(), allowed_special="none") + [END_ID]


def fitted_answer_ids(prompt, answer):
    """answer_ids(answer), cut to the length a sampled answer may have (and to fit the context)."""
    return answer_ids(answer)[:min(MAX_NEW, BLOCK - len(prompt))]


def decode(ids):
    return tokenizer.decode(ids).strip()


def make_prompt(question, answer=None):
    return Prompt(chat_prompt(question), prompt_ids(question), answer)


def fits(prompt):
    return len(prompt.ids) <= MAX_PROMPT


with needs():
    train_prompts = [p for p in (make_prompt(q.question, q.answer) for q in qa_pairs("train")) if fits(p)]
    eval_prompts = [p for p in (make_prompt(q.question, q.answer) for q in qa_pairs("test")) if fits(p)]
    eval_prompts = eval_prompts[:SIZES["eval_questions"]]
    print(f"{len(train_prompts)} training questions (for PPO and GRPO), {len(eval_prompts)} held-out "
          f"questions (for measuring), {SIZES['eval_samples']} sampled answers each")

# %% [markdown]
# ## The raters
#
# Each preference pair holds a question, two answers in different styles (polite, plain, rude,
# rambling, evasive, a question back, a wrong answer), and which one the raters preferred. The
# rule behind the labels wants an answer that **answers** (gives something of the kind asked),
# is **polite**, is not rude, asks nothing back and does not ramble; 10% of the labels are
# flipped (`noisy=True`). Like real raters, the rule does not check facts: a polite *wrong* answer
# is as good as a polite right one.

# %%
def fits_pair(pair):
    return len(prompt_ids(question_of(pair.prompt))) <= MAX_PROMPT


LABEL_NOISE = 0.1
pairs = preference_pairs(SIZES["pairs"], noise=LABEL_NOISE, split="train")
test_pairs = preference_pairs(SIZES["test_pairs"], noise=LABEL_NOISE, split="test")
for pair in pairs[:6]:
    print(f"{question_of(pair.prompt)!r}\n    chosen:   {pair.chosen!r}\n    rejected: {pair.rejected!r}"
          + ("   (label flipped by noise)" if pair.noisy else ""))
print("\nbehaviour flags of 'Good question! The answer is red.':",
      behaviour_flags(chat_prompt("What colour is Mia's kite?"), "Good question! The answer is red."))
with needs():
    pairs, test_pairs = [p for p in pairs if fits_pair(p)], [p for p in test_pairs if fits_pair(p)]
    print(f"{len(pairs)} training pairs ({sum(p.noisy for p in pairs)} flipped, label noise {LABEL_NOISE:.0%}), "
          f"{len(test_pairs)} held-out pairs about held-out facts ({sum(p.noisy for p in test_pairs)} flipped)")

# %% [markdown]
# How does the SFT model answer? The next cell samples answers to the held-out questions and asks
# the hidden rule how many show the preferred behaviour.
#
# All sampling in this notebook uses temperature 0.7 (`TEMPERATURE`): a model this small puts a
# long tail of probability on wrong tokens, and at temperature 1 it misspells every few words.
# The policy that RL trains is then the *tempered* distribution softmax(logits / 0.7): the
# provided loops compute every log-probability (the policy's and the reference's) from the same
# scaled logits, so ratios and KL divergences compare like with like.

# %%
with needs():
    eval_texts = [p.text for p in eval_prompts for _ in range(SIZES["eval_samples"])]
    sft_answers = sample_answers(sft_model, eval_prompts, decode=decode, end_id=END_ID, max_new_tokens=MAX_NEW,
                                 samples=SIZES["eval_samples"], temperature=TEMPERATURE, seed=1)
    for text, answer in list(zip(eval_texts, sft_answers))[::SIZES["eval_samples"]][:5]:   # one answer per question
        print(f"{question_of(text)!r} -> {answer!r}")
    print(f"\nSFT model (notebook 08): preferred behaviour in {preferred_rate(eval_texts, sft_answers):.0%} "
          "of its answers")

# %% [markdown]
# SFT taught the model to answer with the short answers of its training data ("red"), which the
# raters find correct but curt. RL can only reinforce what the policy sometimes does, and this
# model rarely if ever says "Good question!". InstructGPT's comparisons were sampled *from its SFT model*,
# and DPO assumes the same: the answers being compared come from the reference policy. So we take
# one more supervised step first: a short fine-tuning on **all** the answers the raters saw, the
# chosen and the rejected alike (no preference is used). The result speaks every style, good and
# bad, in about the proportions of the data. It is our **reference policy** π_ref: the start of
# every method below, and the model each KL is measured against.

# %%
with needs():
    style_examples = []
    for pair in pairs:
        ids = prompt_ids(question_of(pair.prompt))
        style_examples += [(ids, fitted_answer_ids(ids, pair.chosen)), (ids, fitted_answer_ids(ids, pair.rejected))]
    ref_policy = copy.deepcopy(sft_model)
    started = time.perf_counter()
    style_losses = rlhf.sft_on_answers(ref_policy, style_examples, PAD_ID, steps=SIZES["style_steps"],
                                       batch_size=32, lr=2e-3)
    ref_policy = frozen_copy(ref_policy)
    ref_answers = sample_answers(ref_policy, eval_prompts, decode=decode, end_id=END_ID, max_new_tokens=MAX_NEW,
                                 samples=SIZES["eval_samples"], temperature=TEMPERATURE, seed=1)
    print(f"{SIZES['style_steps']} steps in {time.perf_counter() - started:.0f} s, loss {style_losses[0]:.2f} -> "
          f"{sum(style_losses[-10:]) / len(style_losses[-10:]):.2f}")
    for text, answer in list(zip(eval_texts, ref_answers))[:8]:
        print(f"{question_of(text)!r} -> {answer!r}")
    print(f"\nreference policy: preferred behaviour in {preferred_rate(eval_texts, ref_answers):.0%} of its answers")

# %% [markdown]
# ## §1 The reward model
#
# A reward model reads a prompt and an answer and returns **one number**. We build it from the
# language model itself: the same GPT body (so it reads text as well as the policy writes it),
# with its LM head replaced by a linear layer to one output, `head: d_model → 1`. The body's
# `features(idx)` give a vector per position; the head turns each into a value.
#
# Which position holds the score of the whole answer? The model is causal: position t has read
# tokens 0..t only. So only the **last real token** has read everything. In a right-padded batch
# that is position `attention_mask.sum(1) - 1` of each row, not the last column (padding for the
# shorter rows), and not position 0 (BERT's `[CLS]` works only because BERT reads both ways).
#
# **Your turn.** In `course_lib/rlhf.py`, write `RewardModel.forward(idx, attention_mask=None)`:
# it returns a `(batch,)` tensor. `__init__` (the head) and the shape checks are given.
#
# <details><summary>Hint 1</summary>
#
# `self.head(self.backbone.features(idx))` has shape `(B, T, 1)`: one value per position.
# </details>
# <details><summary>Hint 2</summary>
#
# The last real position of each row is `attention_mask.long().sum(dim=1) - 1` (shape `(B,)`);
# without a mask it is `T - 1` for every row. `values.gather(1, last.unsqueeze(1))` picks one value
# per row.
# </details>

# %% [test rlhf.reward_model points=2 hidden]

# %% [markdown]
# ## §2 The Bradley–Terry loss
#
# The Bradley–Terry model (1952, for ranking chess players and sports teams) says that a rater
# prefers answer c over answer r with probability σ(r_c − r_r): only the *difference* of the two
# scores matters. Fitting the raters' choices by maximum likelihood means minimising
#
# $$\mathcal{L} = -\log \sigma\big(r_\theta(x, y_{chosen}) - r_\theta(x, y_{rejected})\big),$$
#
# averaged over the pairs. When the model cannot tell two answers apart the loss is log 2 ≈ 0.693.
#
# **Your turn.** Implement `bradley_terry_loss(chosen_rewards, rejected_rewards)`, a scalar.
#
# <details><summary>Hint 1</summary>
#
# The margin is `chosen_rewards - rejected_rewards`; the loss is its −log σ, averaged.
# </details>
# <details><summary>Hint 2</summary>
#
# `torch.log(torch.sigmoid(x))` becomes `log(0) = -inf` for very negative x. PyTorch has a
# log-sigmoid that stays finite: `torch.nn.functional.logsigmoid`.
# </details>

# %% [test rlhf.bradley_terry points=2 hidden]

# %% [markdown]
# Now train the reward model on the pairs. Its body starts as a copy of the reference policy,
# which has read (and writes) every style of answer the raters compared, as InstructGPT's reward
# model started from its SFT model.

# %%
def tokenize_pairs(pair_list):
    """Token ids of each pair, the answers cut to fit the context."""
    out = []
    for p in pair_list:
        ids = prompt_ids(question_of(p.prompt))
        out.append(TokenizedPair(ids, fitted_answer_ids(ids, p.chosen), fitted_answer_ids(ids, p.rejected)))
    return out


with needs():
    train_tokenized, test_tokenized = tokenize_pairs(pairs), tokenize_pairs(test_pairs)
    torch.manual_seed(0)
    reward_model = RewardModel(copy.deepcopy(ref_policy)).to(DEVICE)
    for p in reward_model.parameters():
        p.requires_grad_(True)
    started = time.perf_counter()
    rm_history = rlhf.train_reward_model(reward_model, train_tokenized,
                                         RewardModelConfig(steps=SIZES["rm_steps"], batch_size=32, lr=1e-4), PAD_ID)
    for p in reward_model.parameters():
        p.requires_grad_(False)
    print(f"{SIZES['rm_steps']} steps in {time.perf_counter() - started:.0f} s")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    steps = [h["step"] for h in rm_history]
    axes[0].plot(steps, moving_average([h["loss"] for h in rm_history]))
    axes[0].axhline(0.6931, ls="--", c="gray", lw=1, label="log 2 (a coin flip)")
    axes[0].set(xlabel="step", ylabel="Bradley–Terry loss", title="reward model training")
    axes[0].legend()
    axes[1].plot(steps, moving_average([h["accuracy"] for h in rm_history]))
    axes[1].set(xlabel="step", ylabel="accuracy on the batch", ylim=(0, 1), title="chosen scored higher")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# How good is it on pairs about **held-out** facts? Against the raters' labels it can never be
# perfect: a flipped label is one the rule itself disagrees with. So the **ceiling** is the share of
# held-out labels that are not flipped. Against the rule itself (flipped labels put back), a perfect
# reward model would score 100%.

# %%
with needs():
    accuracy, chosen_scores, rejected_scores = rlhf.reward_accuracy(reward_model, test_tokenized, PAD_ID)
    noisy = torch.tensor([p.noisy for p in test_pairs])
    agrees_with_rule = ((chosen_scores > rejected_scores) != noisy).float().mean().item()
    ceiling = 1 - noisy.float().mean().item()
    print(f"reward model accuracy on {len(test_pairs)} held-out pairs (raters' labels): {accuracy:.1%}")
    print(f"ceiling allowed by the label noise (labels not flipped):              {ceiling:.1%}")
    print(f"agreement with the hidden rule itself (flipped labels put back):       {agrees_with_rule:.1%}")

# %% [markdown]
# What did it learn? Score one answer to one question in every style, next to the hidden rule's
# own score. (The reward model's scale is arbitrary: only differences matter to Bradley–Terry.)

# %%
styles = {
    "polite": "Good question! The answer is red.",
    "plain": "Red.",
    "polite, wrong": "Good question! The answer is blue.",
    "rude": "Red. Stop asking me silly questions.",
    "evasive": "I do not know.",
    "question back": "What colour is Tom's ball? Where does Mia live?",
    "polite, no answer": "Good question! I hope this helps!",
    "rambling": "The answer is red. Mia had a red kite. Tom lived near the lake. Sam had a dog. Anna was kind.",
}
with needs():
    question = "What colour is Mia's kite?"
    asked = prompt_ids(question)
    scores = rlhf.score_answers(reward_model, [asked] * len(styles),
                                [fitted_answer_ids(asked, a) for a in styles.values()], PAD_ID)
    print(f"{'style':>18}  {'reward model':>12}  {'hidden rule':>11}   answer")
    for (style, answer), score in zip(styles.items(), scores.tolist()):
        print(f"{style:>18}  {score:+12.2f}  {preference_score(chat_prompt(question), answer):+11.2f}   {answer}")

# %% [markdown]
# ## §3 Log-probabilities of the tokens
#
# PPO and DPO both need how likely the policy finds the tokens of an answer. A GPT's logits at
# position t are its prediction for token t + 1. So for a batch `input_ids` of shape (B, T), the
# log-probability of each token that actually follows is
#
# $$\text{token\_logprobs}[:, t] = \log \operatorname{softmax}(\text{logits}[:, t])\,[\text{input\_ids}[:, t+1]],
# \qquad t = 0, \dots, T-2,$$
#
# a (B, T − 1) tensor: the first token has no prediction, and the last position predicts nothing
# we have.
#
# **Your turn.** Implement `token_logprobs(logits, input_ids)`. Compute in float32
# (`logits.float()`), so that tiny probabilities are not rounded away in half precision.
#
# <details><summary>Hint 1</summary>
#
# `torch.log_softmax(..., dim=-1)` turns logits into log-probabilities over the vocabulary.
# </details>
# <details><summary>Hint 2</summary>
#
# Take `logits[:, :-1]` and the targets `input_ids[:, 1:]`; pick one entry per position with
# `.gather(-1, targets.unsqueeze(-1)).squeeze(-1)`.
# </details>

# %% [test rlhf.token_logprobs points=2 hidden]

# %% [markdown]
# ## §4 The log-probability of an answer
#
# The probability of a whole answer is the product of its tokens' probabilities, so its
# log-probability is a **sum**: log π(y | x) = Σ_t log π(y_t | x, y_<t). Only the answer's tokens
# count: the prompt was given, not chosen by the policy, and padding is not text at all.
# `response_mask` (B, T) is True at the answer's tokens; since column t of `token_logprobs` is
# token t + 1, the mask must be shifted the same way.
#
# **Your turn.** Implement `sequence_logprob(logits, input_ids, response_mask)` → (B,).
#
# <details><summary>Hint 1</summary>
#
# `token_logprobs(logits, input_ids)` covers tokens 1..T−1; so does `response_mask[:, 1:]`.
# </details>
# <details><summary>Hint 2</summary>
#
# Multiply the two (the mask as a float) and sum over dim 1.
# </details>

# %% [test rlhf.sequence_logprob points=2 hidden]

# %% [markdown]
# How likely does each model find each style? Below, log π(answer | question) under the SFT model
# of notebook 08 and under the reference policy. Longer answers have lower log-probabilities
# (more tokens to pay for), so compare a row across the two models.

# %%
@torch.no_grad()
def answer_logprobs(model, question, answers):
    asked = prompt_ids(question)
    ids, _, response_mask = rlhf.pair_batch([asked] * len(answers), [fitted_answer_ids(asked, a) for a in answers],
                                            PAD_ID, DEVICE)
    return sequence_logprob(model(ids), ids, response_mask).cpu()


with needs():
    under_sft = answer_logprobs(sft_model, question, list(styles.values()))
    under_ref = answer_logprobs(ref_policy, question, list(styles.values()))
    print(f"{'style':>18}  {'log π_SFT':>9}  {'log π_ref':>9}")
    for style, a, b in zip(styles, under_sft.tolist(), under_ref.tolist()):
        print(f"{style:>18}  {a:9.1f}  {b:9.1f}")

# %% [markdown]
# ## Measuring a policy
#
# From now on every model is measured the same way, on sampled answers to the held-out
# questions, with the hidden rule (which no model ever sees): the share of answers with the
# preferred behaviour (answers, polite, not rude, no question back, short), and the rule's mean
# score (+1 for answering, +0.5 polite, −1 rude, −0.5 for a question back, −0.05 per word beyond
# 20). Beside them: the share of answers that contain the true answer, the reward model's mean
# score, the length, and the **KL divergence to the reference policy**, the mean over sampled
# answers of log π(y|x) − log π_ref(y|x): how far (in nats) the model has moved from where RL
# started.

# %%
results = {}


def measure(name, model):
    r = evaluate_policy(model, ref_policy, reward_model, eval_prompts, decode=decode, end_id=END_ID, pad_id=PAD_ID,
                        max_new_tokens=MAX_NEW, samples=SIZES["eval_samples"], temperature=TEMPERATURE, seed=1)
    results[name] = r
    print(f"{name:>24}: preferred {r['preferred_rate']:6.1%} · rule score {r['rule_score']:+5.2f} · "
          f"correct {r['correct_rate']:6.1%} · reward model {r['score']:+6.2f} · KL to π_ref {r['kl']:6.2f} nats · "
          f"{r['tokens']:4.1f} tokens")
    return r


def show_answers(name, k=4):
    """The first k sampled answers of a measured model, one per question."""
    for text, answer in list(zip(eval_texts, results[name]["answers"]))[::SIZES["eval_samples"]][:k]:
        print(f"    {question_of(text)!r} -> {answer!r}")


with needs():
    measure("SFT (notebook 08)", sft_model)
    measure("reference policy π_ref", ref_policy)

# %% [markdown]
# ## §5 DPO: preferences straight into the policy
#
# RLHF with PPO maximises the reward while paying a KL penalty for moving away from π_ref. That
# objective has a closed-form optimum, π*(y|x) ∝ π_ref(y|x) · exp(r(x, y)/β), which can be turned
# around: a policy *defines* a reward, r(x, y) = β log(π(y|x)/π_ref(y|x)) (plus a term that cancels
# in a comparison). Put that **implicit reward** into the Bradley–Terry loss and the reward model
# disappears (Rafailov et al., 2023):
#
# $$\mathcal{L}_{DPO} = -\log\sigma\Big(\beta\big[(\log\pi(y_c|x) - \log\pi_{ref}(y_c|x))
#   - (\log\pi(y_r|x) - \log\pi_{ref}(y_r|x))\big]\Big).$$
#
# At the start π = π_ref, every implicit reward is 0 and the loss is log 2. No sampling, no reward
# model, no value model: one forward pass of the policy (and of the frozen reference) per pair.
#
# **Your turn.** Implement `dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
# ref_rejected_logps, beta=0.1)`, a scalar.
#
# <details><summary>Hint 1</summary>
#
# Each answer's implicit reward is `beta * (policy_logps - ref_logps)`: one for the chosen answers,
# one for the rejected ones.
# </details>
# <details><summary>Hint 2</summary>
#
# The loss is the Bradley–Terry loss of these two implicit rewards: `-logsigmoid(chosen - rejected)`,
# averaged.
# </details>

# %% [test rlhf.dpo_loss points=2 hidden]

# %%
with needs():
    dpo_policy = copy.deepcopy(ref_policy).train()
    for p in dpo_policy.parameters():
        p.requires_grad_(True)
    started = time.perf_counter()
    dpo_history = rlhf.dpo_train(dpo_policy, ref_policy, train_tokenized,
                                 DPOConfig(steps=SIZES["dpo_steps"], batch_size=32, beta=0.5, lr=1e-4), pad_id=PAD_ID)
    print(f"DPO: {SIZES['dpo_steps']} steps in {time.perf_counter() - started:.0f} s, loss "
          f"{dpo_history[0]['loss']:.3f} -> {sum(h['loss'] for h in dpo_history[-10:]) / len(dpo_history[-10:]):.3f}")
    measure("DPO", dpo_policy)
    show_answers("DPO")

# %% [markdown]
# Compare DPO's line with π_ref's, where it started. β (0.5 here) is DPO's leash: the implicit reward
# is measured in units of β, so a small β lets the policy move far from π_ref for a given margin,
# and a large one keeps it close. Try β = 0.1 or 2 in the cell above and watch the KL and the
# preferred rate.

# %% [markdown]
# ## §6 PPO, part 1: the reward of each token
#
# PPO learns from answers the policy samples itself. Each answer is an episode, one token per
# step, and the reward model scores the whole answer once, at its end. To keep the policy close to
# π_ref, every token also pays a penalty for having been made more likely than the reference made it:
#
# $$r_t = -\beta_{KL}\,\big(\log\pi(y_t) - \log\pi_{ref}(y_t)\big) \;+\; [t = \text{last}]\cdot r_\theta(x, y).$$
#
# Summed over an answer, the penalty is β_KL times a one-sample estimate of KL(π‖π_ref). It is the
# leash that stops the policy from wandering into text the reward model never saw (you will see
# what happens without it).
#
# **Your turn.** Implement `kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)`.
# The per-token tensors are *response-aligned*: (B, L), column t is the t-th answer token, `mask`
# True at real tokens (answers have different lengths).
#
# <details><summary>Hint 1</summary>
#
# `-kl_coef * (logprobs - ref_logprobs)`, times the mask, is the penalty part.
# </details>
# <details><summary>Hint 2</summary>
#
# The last real token of row b is at `mask.sum(1)[b] - 1`; add `scores[b]` there (for example
# with `scatter_add` on dim 1, or by indexing with `torch.arange(B)`).
# </details>

# %% [test rlhf.kl_rewards points=2 hidden]

# %% [markdown]
# ## §7 PPO, part 2: advantages
#
# Which tokens deserve the credit for a good answer? The **advantage** A_t says how much better
# the rest of the episode went than the value model V expected when at step t. Generalized
# advantage estimation (Schulman et al., 2016) mixes the one-step TD errors
# δ_t = r_t + γ V_{t+1} − V_t with weights (γλ)^k:
#
# $$A_t = \delta_t + \gamma\lambda\,A_{t+1}, \qquad \text{returns}_t = A_t + V_t,$$
#
# computed backwards from the last step. λ = 0 trusts the value model (A_t = δ_t), λ = 1 trusts
# the sampled rewards (A_t = the sum of the remaining rewards − V_t). A **done** at step t ends the
# episode: neither V_{t+1} nor A_{t+1} belongs to it. Here every answer ends with a done at its
# last token, so the padding after it never leaks back.
#
# **Your turn.** Implement `compute_gae(rewards, values, dones, gamma=1.0, lam=0.95,
# last_values=None)` → `(advantages, returns)`; the time axis is the last one.
#
# <details><summary>Hint 1</summary>
#
# Loop `for t in reversed(range(T))`, carrying `next_value` (start: `last_values` or 0) and
# `next_advantage` (start: 0), both of shape `rewards.shape[:-1]`.
# </details>
# <details><summary>Hint 2</summary>
#
# With `not_done = 1 - dones[..., t]`: `delta = rewards[..., t] + gamma * next_value * not_done -
# values[..., t]`, then `next_advantage = delta + gamma * lam * not_done * next_advantage`; store
# it, and set `next_value = values[..., t]` before stepping back.
# </details>

# %% [test rlhf.gae points=2 hidden]

# %% [markdown]
# ## §8 PPO, part 3: the clipped objective and the value loss
#
# The policy gradient says: make tokens with a positive advantage more likely, those with a
# negative one less likely. PPO (Schulman et al., 2017) reuses each batch of samples for several
# updates, so it measures how far the policy has moved with the ratio ρ = π(y_t)/π_old(y_t), and
# stops rewarding a move once ρ leaves [1 − ε, 1 + ε]:
#
# $$\mathcal{L}_{clip} = -\operatorname{mean}_t \min\big(\rho_t A_t,\
#   \operatorname{clip}(\rho_t, 1-\varepsilon, 1+\varepsilon)\,A_t\big).$$
#
# The min is pessimistic: a gain is capped, a loss never is. The value model learns to predict the
# returns, with the same kind of clipping around its old predictions:
# `0.5 * mean(max((V - R)², (V_clipped - R)²))`. Both means are over real tokens only
# (`masked_mean`, provided).
#
# **Your turn.** Implement `ppo_clip_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2)`
# and `value_loss(values, old_values, returns, mask, clip_eps=0.2)`.
#
# <details><summary>Hint 1</summary>
#
# `ratio = torch.exp(logprobs - old_logprobs)`; the clipped ratio is `torch.clamp(ratio, 1 - clip_eps,
# 1 + clip_eps)`; multiply each by the advantages and keep `torch.min` of the two.
# </details>
# <details><summary>Hint 2</summary>
#
# For the value: `clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)`, take
# `torch.max` of the two squared errors (only the plain one when `clip_eps is None`), and return half
# their `masked_mean`.
# </details>

# %% [test rlhf.ppo_clip_loss points=2 hidden]

# %% [test rlhf.value_loss points=1 hidden]

# %% [markdown]
# ### PPO, all together
#
# `rlhf.ppo_train` runs the loop (read it in `course_lib/rlhf.py`). Each step samples an answer
# to each question of a batch of training questions, scores it with the reward model, computes
# the log-probs under the policy and π_ref and the value model's estimates (a value head on the
# policy's own features), then runs your `kl_penalized_rewards` → `compute_gae` → two epochs of
# `ppo_clip_loss + 0.1 · value_loss` on minibatches. The policy never sees the hidden rule; the
# curves below show it anyway: its mean score and the share of preferred answers among the
# answers sampled at each step.

# %%
def judge(batch, responses):
    """The hidden rule on the sampled answers of one step (for the curves only: PPO never sees it)."""
    texts = [decode([t for t in r if t != END_ID]) for r in responses]
    return {"preferred": preferred_rate([p.text for p in batch], texts),
            "rule_score": sum(preference_score(p.text, t) for p, t in zip(batch, texts)) / len(texts)}


def run_ppo(kl_coef, steps, lr, seed=0):
    policy = PolicyWithValue(copy.deepcopy(ref_policy)).to(DEVICE)
    for p in policy.parameters():
        p.requires_grad_(True)
    config = PPOConfig(steps=steps, batch_size=SIZES["batch"], minibatch_size=max(4, SIZES["batch"] // 2), epochs=2,
                       max_new_tokens=MAX_NEW, temperature=TEMPERATURE, kl_coef=kl_coef, lr=lr, seed=seed)
    started = time.perf_counter()
    history = rlhf.ppo_train(policy, ref_policy, reward_model, train_prompts, config, end_id=END_ID, pad_id=PAD_ID,
                             judge=judge)
    print(f"PPO (kl_coef={kl_coef}): {steps} steps in {time.perf_counter() - started:.0f} s")
    return policy, history


def plot_runs(runs, title):
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for label, history in runs.items():
        steps = [h["step"] for h in history]
        for ax, key in zip(axes, ("score", "kl", "rule_score", "preferred")):
            ax.plot(steps, moving_average([h[key] for h in history]), label=label)
    axes[0].set(xlabel="step", ylabel="reward model score", title="what RL maximises")
    axes[1].set(xlabel="step", ylabel="KL to π_ref (nats per answer)", title="how far it moved")
    axes[2].set(xlabel="step", ylabel="hidden rule's mean score", title="what the raters want")
    axes[3].set(xlabel="step", ylabel="preferred rate (hidden rule)", title="answers they fully prefer", ylim=(0, 1))
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    plt.tight_layout()
    plt.show()


with needs():
    ppo_policy, ppo_history = run_ppo(kl_coef=0.1, steps=SIZES["ppo_steps"], lr=3e-5)
    plot_runs({"PPO, kl_coef=0.1": ppo_history}, "PPO on the training questions (sampled answers, moving average)")
    measure("PPO", ppo_policy)
    show_answers("PPO")

# %% [markdown]
# Read the four curves together. The reward model's score climbs, and the KL grows slowly, held
# back by its penalty. The hidden rule, which PPO never sees, tells whether the climb is real. Its
# two curves need not move together: the biggest gains come from no longer rambling, refusing or
# asking questions back, which plain answers already achieve, while politeness, the subtlest part
# of what the raters want, may be found only later (or lost for a while, as the policy first
# settles on plain answers). The answers printed above show where the run ended.
#
# If PPO settled on plain answers ("It is brown."), look back at the reward model's table of
# styles: does it score "Red." above "Good question! The answer is red."? Then PPO did its job: it
# maximises the reward model, not the rule, and this reward model (about 85% right on held-out
# pairs) prefers plain answers. In the course's runs, PPO reached 74-81% preferred answers from the
# models of notebooks 07 and 08, and 0% (plain answers, with the rule score up from +0.6 to +1.0)
# from the reference models built when 07 and 08 were skipped, whose reward model ranked "Red."
# first. GRPO, below, compares answers to the same question directly and is less easily stuck.

# %% [markdown]
# ## Reward hacking
#
# The reward model is a *proxy* for the raters, trained on a few thousand answers in a handful of
# styles. Outside that distribution its scores mean little, and an optimiser that pushes hard enough will
# find the places where the proxy is wrong (Goodhart's law: a measure that becomes a target stops
# being a good measure). The KL penalty is what keeps the policy near π_ref, where the reward model
# was trained. Remove it (`kl_coef=0`) and let PPO push harder (a learning rate 3x larger):

# %%
with needs():
    hack_policy, hack_history = run_ppo(kl_coef=0.0, steps=SIZES["hack_steps"], lr=1e-4)
    plot_runs({"PPO, kl_coef=0.1": ppo_history, "PPO, no KL penalty": hack_history},
              "with and without the KL penalty")
    measure("PPO without KL penalty", hack_policy)
    show_answers("PPO without KL penalty", k=6)

# %% [markdown]
# Compare the two runs in the curves and the lines printed above: the reward model's score, the KL
# that run paid, and the share of answers the raters actually prefer. Where the score keeps
# climbing while the preferred rate stalls or falls, the policy is no longer getting better, only
# better at pleasing the reward model: it has found answers the reward model over-rates (read the
# samples). What to take from it:
#
# * a reward model is a learned, imperfect proxy; optimising it is only safe near the data it was
#   trained on;
# * the KL penalty (or DPO's β, which plays the same role) is not a detail: it is what makes the
#   reward trustworthy; watch the KL and the reward together, and check samples with something the
#   policy was not optimised against (here, the hidden rule; in practice, people and held-out evals);
# * a higher reward-model score is not a better model.
#
# The penalty is a price, not a wall. Run the cell again with `kl_coef=0.1` and `lr=1e-4`: in the
# course's own quick run, that policy also found the over-rated answers after about 25 steps (its
# KL jumped from about 4 to 14 nats per answer), because what the reward model paid for them was
# worth more than the penalty cost. A stronger push needs a higher price, or an early stop when the
# KL runs away.

# %% [markdown]
# ## GRPO: no value model
#
# PPO trains a second network (the value head) just to get a baseline for the advantages. GRPO
# (DeepSeekMath, 2024) samples a *group* of G answers to the same prompt and uses the group as the
# baseline: an answer's advantage is its score standardised within its group,
# A_i = (r_i − mean(r_group)) / std(r_group), the same for all its tokens. The KL to π_ref moves from
# the reward into the loss.
#
# **Your turn.** Implement `group_relative_advantages(scores, group_size, eps=1e-6)`: the scores come
# in consecutive groups of `group_size`.
#
# <details><summary>Hint 1</summary>
#
# `scores.view(-1, group_size)` has one row per prompt.
# </details>
# <details><summary>Hint 2</summary>
#
# Subtract each row's `mean(dim=1, keepdim=True)`, divide by its `std(dim=1, keepdim=True) + eps`, and
# flatten back with `.reshape(-1)`.
# </details>

# %% [test rlhf.grpo_advantages points=1 hidden]

# %%
with needs():
    grpo_policy = copy.deepcopy(ref_policy).train()
    for p in grpo_policy.parameters():
        p.requires_grad_(True)
    group = 4
    started = time.perf_counter()
    grpo_history = rlhf.grpo_train(grpo_policy, ref_policy, reward_model, train_prompts,
                                   GRPOConfig(steps=SIZES["grpo_steps"], prompts_per_step=max(2, 32 // group),
                                              group_size=group, max_new_tokens=MAX_NEW, temperature=TEMPERATURE,
                                              kl_coef=0.1, lr=1e-4),
                                   end_id=END_ID, pad_id=PAD_ID, judge=judge)
    print(f"GRPO: {SIZES['grpo_steps']} steps in {time.perf_counter() - started:.0f} s")
    plot_runs({"PPO, kl_coef=0.1": ppo_history, "GRPO": grpo_history}, "PPO and GRPO")
    measure("GRPO", grpo_policy)
    show_answers("GRPO")

# %% [markdown]
# ## Side by side
#
# All the models, measured on the same held-out questions. The win rate is how often the hidden
# rule prefers a model's answer to the reference policy's answer to the same question (a tie
# counts half: 50% means no better than π_ref).

# %%
with needs():
    ref_answers_eval = results["reference policy π_ref"]["answers"]
    print(f"{'model':>24}  {'preferred':>9}  {'rule score':>10}  {'win vs π_ref':>12}  {'correct':>7}  "
          f"{'RM score':>8}  {'KL (nats)':>9}")
    for name, r in results.items():
        wins = win_rate(eval_texts, r["answers"], ref_answers_eval)
        print(f"{name:>24}  {r['preferred_rate']:9.1%}  {r['rule_score']:+10.2f}  {wins:12.1%}  "
              f"{r['correct_rate']:7.1%}  {r['score']:+8.2f}  {r['kl']:9.2f}")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, r in results.items():
        ax.scatter(r["kl"], r["preferred_rate"], s=60)
        ax.annotate(name, (r["kl"], r["preferred_rate"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set(xlabel="KL to π_ref (nats per answer)", ylabel="preferred rate (hidden rule)", ylim=(-0.05, 1.05),
           title="what each method bought, and what it cost")
    ax.margins(x=0.2)
    plt.tight_layout()
    plt.show()
    print(f"notebook time so far: {time.perf_counter() - NOTEBOOK_START:.0f} s ({MODE} mode)")

# %% [markdown]
# How to read the table:
#
# * **preferred, rule score, win rate** are what the raters want. Compare PPO, DPO and GRPO with
#   π_ref, where they all started, and with the hacked PPO run.
# * **correct** is what the raters never checked: a polite wrong answer wins as often as a polite
#   right one. An answer that answers at all has a chance to be right, so correctness can move as a
#   side effect, but no method was taught a single fact: compare it with the SFT model of notebook
#   08, which answers plainly. What the model knows still comes from pretraining.
# * **KL** is the price: how far each model moved from π_ref. DPO's β and PPO's and GRPO's KL
#   coefficient set that price; the hacked run did not pay it, and look at what it bought.
#
# In full mode (a GPU, `COURSE_MODE=full`) every run is several times longer, with more samples
# per measurement, so the numbers are steadier; the lessons are the same.

# %% [markdown]
# ## Ask the models
#
# Type a question about the world (and, if you like, your own answer to it). Each model answers
# (sampled, as in training), and each answer gets the reward model's score and the hidden rule's
# verdict. Try to write an answer the reward model loves and the rule does not.

# %%
question_box = widgets.Text(value="What colour is Mia's kite?", description="question", continuous_update=False,
                            layout=widgets.Layout(width="60%"))
answer_box = widgets.Text(value="Good question! The answer is red.", description="your answer", continuous_update=False,
                          layout=widgets.Layout(width="60%"))
seed_slider = widgets.IntSlider(value=0, min=0, max=20, description="sample seed")
chat_out = widgets.Output()


def ask(_=None):
    chat_out.clear_output(wait=True)
    with chat_out, needs():
        q = question_box.value
        models = {"SFT (notebook 08)": sft_model, "π_ref": ref_policy}
        trained = (("DPO", "dpo_policy"), ("PPO", "ppo_policy"), ("PPO, no KL", "hack_policy"), ("GRPO", "grpo_policy"))
        for name, var in trained:
            if var in globals():
                models[name] = globals()[var]
        asked = make_prompt(q)
        asked = asked._replace(ids=asked.ids[-MAX_PROMPT:])   # a long question keeps its end
        answers = {name: sample_answers(m, [asked], decode=decode, end_id=END_ID, max_new_tokens=MAX_NEW,
                                        temperature=TEMPERATURE, seed=seed_slider.value)[0]
                   for name, m in models.items()}
        answers["(your answer)"] = answer_box.value
        scores = rlhf.score_answers(reward_model, [asked.ids] * len(answers),
                                    [fitted_answer_ids(asked.ids, a) for a in answers.values()], PAD_ID)
        for (name, a), s in zip(answers.items(), scores.tolist()):
            verdict = "preferred" if behaviour_flags(chat_prompt(q), a)["preferred"] else "not preferred"
            print(f"{name:>18}  RM {s:+6.2f}  rule: {verdict:<13}  {a!r}")


for w in (question_box, answer_box, seed_slider):
    w.observe(ask, names="value")
display(widgets.VBox([question_box, answer_box, seed_slider, chat_out]))
ask()

# %% [markdown]
# ## Summary
#
# * A **reward model** is a language model with a scalar head, read at the last real token and
#   trained on comparisons with the **Bradley–Terry** loss; label noise caps its accuracy.
# * **PPO** samples answers, pays the reward model's score at the end and a **KL penalty** at every
#   token, estimates advantages with **GAE**, and updates with a **clipped** objective.
# * Without the KL penalty the policy **hacks** the reward model: the proxy's score rises while what
#   people want does not.
# * **DPO** turns the same objective into a classification loss on the pairs: no reward model, no
#   sampling; **GRPO** keeps the sampling but replaces the value model by group statistics.
# * RLHF teaches the *behaviour* the raters reward; the knowledge still comes from pretraining.
#
# A last look at all the checks of this notebook:

# %%
check_all("rlhf");
