"""Supervised fine-tuning (SFT) and LoRA: from a model that continues text to one that answers.  Notebook 08.

The problem in one paragraph
----------------------------
A model pretrained on stories (notebook 07) has learned to *continue* text. Ask it "Where does
Mia live?" and it writes what usually follows such a line in its corpus: another question, or
more story. It has read "Mia lived near the lake." many times, so the knowledge is there; what it
lacks is the *format* "a question, then its answer, then stop". Supervised fine-tuning teaches
that format: a few hundred short conversations, written with a chat template, and a loss that
only counts the answer tokens. LoRA does the same while training a small fraction of the weights.

What learners implement (the marked regions; notebook 08, sections 1-9)
-----------------------------------------------------------------------
1. :func:`chat_template`        a question (and its answer) written with the chat special tokens
2. :func:`build_sft_example`    token ids and labels, -100 on the prompt: the loss sees the answer only
3. :func:`pad_collate`          examples of different lengths -> one padded batch
4. :func:`sft_loss`             next-token cross-entropy on the answer tokens (shift, then ignore -100)
5. :func:`sft_step`             one optimisation step on a batch
6. :class:`LoRALinear`          a frozen nn.Linear plus a trainable low-rank update (alpha / r) * B @ A
7. :meth:`LoRALinear.merge`     fold the update into the weight (and :meth:`LoRALinear.unmerge` it back)
8. :func:`inject_lora`          freeze a model and wrap its attention projections, found by name
9. :func:`count_parameters`     (trainable, total) parameter counts

Conventions
-----------
* Chat template (the course tokenizer registers these special tokens from the start, so no new
  embedding rows are needed)::

      <|user|>Where does Mia live?<|assistant|> near the lake<|end|>

  The prompt is everything up to and including ``<|assistant|>``; the answer follows after one
  space (so that its words are tokenized as in the stories: " lake", not "lake") and ends with
  ``<|end|>``, the token that tells generation to stop. ``course_lib.data.chat_prompt`` is the same
  idea written with plain text ("User: ...\\nAssistant:"), for models without special tokens.
* Labels are aligned with the inputs, as in Hugging Face: ``labels[t]`` is the token at position t
  (or -100 where the loss must not look). :func:`sft_loss` does the shift: the logits at position
  t are scored against ``labels[t + 1]``.
* Padding goes on the right. A causal model never looks to the right, so padding there changes
  nothing for the real tokens, and no attention mask is needed; the padded labels are -100.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "USER_TOKEN", "ASSISTANT_TOKEN", "END_TOKEN", "PAD_TOKEN", "IGNORE_INDEX", "LORA_TARGETS",
    "chat_template", "build_sft_example", "pad_collate", "sft_loss", "sft_step",
    "LoRALinear", "inject_lora", "count_parameters",
    "sft_examples", "batches", "SFTConfig", "SFT_SIZES", "train_sft", "answer", "answers",
    "continue_text", "classify_continuation", "lora_modules", "merge_lora", "unmerge_lora",
    "merge_and_unload", "training_memory_bytes", "sft_recipe",
]

USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"
END_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: labels equal to it add nothing to the loss
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")  # the attention projections (notebook 04)


def _special_id(tokenizer, name: str) -> int:
    """The id of special token `name`, with a clear error if the tokenizer lacks it."""
    try:
        return tokenizer.special_tokens[name]
    except (AttributeError, KeyError):
        raise ValueError(f"the tokenizer has no special token {name!r}: use the course tokenizer "
                         f"(course_lib.pretrained.course_gpt() returns it), which registers "
                         f"{USER_TOKEN}, {ASSISTANT_TOKEN}, {END_TOKEN} and {PAD_TOKEN}") from None


# ---------------------------------------------------------------------------------------------
# §1 The chat template
# ---------------------------------------------------------------------------------------------

def chat_template(question: str, answer: str | None = None) -> str:
    """A conversation turn written with the chat special tokens.

    Args:
        question: what the user asks; surrounding whitespace is removed.
        answer: the assistant's answer, or None for the prompt alone (what the model sees when it
            must answer); surrounding whitespace is removed.

    Returns:
        ``"<|user|>" + question + "<|assistant|>"`` when answer is None, else that prompt followed
        by ``" " + answer + "<|end|>"``. For example::

            chat_template(" Where does Mia live? ")           == "<|user|>Where does Mia live?<|assistant|>"
            chat_template("Where does Mia live?", "the lake") == "<|user|>Where does Mia live?<|assistant|> the lake<|end|>"
    """
    # YOUR CODE HERE (notebook 08, §1)
    raise NotImplementedError('chat_template() is not written yet (notebook 08, §1). Hint: Return the user token, the stripped question and the assistant token; with an answer, add a space, the stripped answer and the end token.')


# ---------------------------------------------------------------------------------------------
# §2 An SFT example: the loss sees the answer only
# ---------------------------------------------------------------------------------------------

def build_sft_example(tokenizer, question: str, answer: str) -> dict[str, list[int]]:
    """Token ids of one conversation, and labels that hide the prompt from the loss.

    Args:
        tokenizer: a course `Tokenizer` with the chat special tokens registered.
        question, answer: one question-answer pair.

    Returns:
        ``{"input_ids": ids, "labels": labels}``, two lists of ints of the same length, where
        ``ids = tokenizer.encode(chat_template(question, answer), allowed_special="all")`` and
        ``labels[t]`` is ``ids[t]`` for the answer tokens (everything after the prompt
        ``chat_template(question)``, the final ``<|end|>`` included) and ``IGNORE_INDEX`` (-100) for
        the prompt tokens. Labels are *not* shifted: :func:`sft_loss` shifts them.

    Example (ids made up): prompt ids [9, 5, 6, 7, 10], answer ids [3, 4], end id 11 ->
    input_ids [9, 5, 6, 7, 10, 3, 4, 11], labels [-100, -100, -100, -100, -100, 3, 4, 11].
    """
    for name in (USER_TOKEN, ASSISTANT_TOKEN, END_TOKEN):
        _special_id(tokenizer, name)
    # YOUR CODE HERE (notebook 08, §2)
    raise NotImplementedError("build_sft_example() is not written yet (notebook 08, §2). Hint: Encode the whole conversation and the prompt alone (special tokens allowed); the labels copy the ids, except the prompt's first len(prompt ids) positions, which get IGNORE_INDEX.")


# ---------------------------------------------------------------------------------------------
# §3 Padding a batch
# ---------------------------------------------------------------------------------------------

def pad_collate(examples: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Stack examples of different lengths into one right-padded batch.

    Args:
        examples: a non-empty sequence of ``{"input_ids": list[int], "labels": list[int]}``
            (as :func:`build_sft_example` returns), each with labels as long as its ids.
        pad_id: the id written into the padding positions of input_ids (the `<|pad|>` token).

    Returns:
        A dict of three tensors of shape (B, T), T = the longest example's length:
        ``input_ids`` (long; pad_id after each example's end), ``labels`` (long; IGNORE_INDEX after
        the end, so padding never counts in the loss) and ``attention_mask`` (bool; True at real
        tokens, False at padding).
    """
    if len(examples) == 0:
        raise ValueError("pad_collate needs at least one example")
    for i, example in enumerate(examples):
        if len(example["input_ids"]) != len(example["labels"]):
            raise ValueError(f"example {i} has {len(example['input_ids'])} input ids but "
                             f"{len(example['labels'])} labels")
    # YOUR CODE HERE (notebook 08, §3)
    raise NotImplementedError('pad_collate() is not written yet (notebook 08, §3). Hint: Make (B, T) tensors filled with pad_id, IGNORE_INDEX and False, then copy each example into the start of its row.')


# ---------------------------------------------------------------------------------------------
# §4 The loss on the answer tokens
# ---------------------------------------------------------------------------------------------

def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not IGNORE_INDEX.

    Args:
        logits: (B, T, vocab), the model's output for input_ids (B, T).
        labels: (B, T) long, aligned with input_ids (see :func:`build_sft_example`).

    Returns:
        A scalar tensor (with the graph, for backward): the logits at position t predict the label
        at t + 1, for t = 0 .. T-2; positions whose next label is IGNORE_INDEX are left out and the
        rest are averaged (each answer token of the batch weighs the same).
    """
    if logits.dim() != 3 or labels.dim() != 2 or tuple(logits.shape[:2]) != tuple(labels.shape):
        raise ValueError(f"expected logits (B, T, vocab) and labels (B, T), got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    # YOUR CODE HERE (notebook 08, §4)
    raise NotImplementedError('sft_loss() is not written yet (notebook 08, §4). Hint: Drop the last position of the logits and the first of the labels (position t predicts token t + 1), flatten both, and let F.cross_entropy skip IGNORE_INDEX.')


# ---------------------------------------------------------------------------------------------
# §5 One SFT step
# ---------------------------------------------------------------------------------------------

def sft_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
             *, max_grad_norm: float | None = 1.0) -> float:
    """One optimisation step of supervised fine-tuning.

    Args:
        model: a language model, ``model(input_ids (B, T)) -> logits (B, T, vocab)``.
        batch: a dict from :func:`pad_collate` (its tensors are moved to the model's device here).
        optimizer: the optimizer of the parameters to train.
        max_grad_norm: if not None, clip the gradient norm of the trainable parameters to it
            (``torch.nn.utils.clip_grad_norm_``) before the step.

    Returns:
        The loss of the batch *before* the step, as a Python float.

    The model is put in training mode; gradients are reset before the backward pass, so that
    each step uses this batch's gradient only.
    """
    device = next(model.parameters()).device
    input_ids = batch["input_ids"].to(device)            # (B, T)
    labels = batch["labels"].to(device)                  # (B, T)
    # YOUR CODE HERE (notebook 08, §5)
    raise NotImplementedError('sft_step() is not written yet (notebook 08, §5). Hint: Train mode, forward, sft_loss, reset the gradients, backward, clip the trainable parameters if asked, step, and return the loss as a float.')


# ---------------------------------------------------------------------------------------------
# Provided: SFT data, the training loop, answering questions
# ---------------------------------------------------------------------------------------------

def sft_examples(tokenizer, pairs: Iterable, max_len: int | None = None) -> list[dict[str, list[int]]]:
    """:func:`build_sft_example` for each (question, answer, ...) pair (e.g. `course_lib.data.qa_pairs`).

    Examples longer than `max_len` tokens (the model's block_size) are left out: the model could
    not read them whole.
    """
    examples = [build_sft_example(tokenizer, pair[0], pair[1]) for pair in pairs]
    return [e for e in examples if max_len is None or len(e["input_ids"]) <= max_len]


def batches(examples: Sequence[dict], batch_size: int, pad_id: int, *, seed: int = 0):
    """An endless stream of padded batches: the examples shuffled, epoch after epoch."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield pad_collate([examples[i] for i in order[start:start + batch_size]], pad_id)


def _lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to a tenth of `lr`: notebook 07's `lr_schedule` with
    min_lr = lr / 10, written out here so that this notebook works whatever the state of yours."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


@dataclass
class SFTConfig:
    """The hyper-parameters of one fine-tuning run."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    seed: int = 0


# The course's recipe per run mode (`course_lib.device.run_mode()`): full fine-tuning and LoRA
# (whose adapters start at zero and need a larger learning rate).
SFT_SIZES = {
    "smoke": {"full": SFTConfig(steps=30, batch_size=8, lr=1e-3, warmup=5),
              "lora": SFTConfig(steps=30, batch_size=8, lr=3e-3, warmup=5), "lora_r": 8, "lora_alpha": 16},
    "quick": {"full": SFTConfig(steps=250, batch_size=16, lr=1e-4),
              "lora": SFTConfig(steps=250, batch_size=16, lr=1e-3), "lora_r": 8, "lora_alpha": 16},
    "full": {"full": SFTConfig(steps=500, batch_size=32, lr=1e-4),
             "lora": SFTConfig(steps=500, batch_size=32, lr=1e-3), "lora_r": 16, "lora_alpha": 32},
}


@dataclass
class SFTHistory:
    """What a run of :func:`train_sft` recorded."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    trainable: int = 0
    total: int = 0


def train_sft(model: nn.Module, examples: Sequence[dict], pad_id: int, config: SFTConfig | None = None,
              *, progress: bool = True, on_step=None) -> SFTHistory:
    """Fine-tune `model` in place on `examples` with :func:`sft_step`; returns the loss history.

    The optimizer is PyTorch's AdamW over the parameters that require a gradient (all of them for
    full fine-tuning, the adapters only after :func:`inject_lora`), with notebook 07's schedule
    (warmup, then cosine decay). `on_step(step, loss)` is called after each step (for live plots).
    """
    config = config or SFTConfig()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameter")
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    history = SFTHistory()
    history.trainable, history.total = _count(model)
    stream = batches(examples, min(config.batch_size, len(examples)), pad_id, seed=config.seed)
    steps = range(config.steps)
    if progress:
        try:
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc="SFT", leave=False)
        except ImportError:  # pragma: no cover - tqdm is in the course's environment
            pass
    started = time.perf_counter()
    for step in steps:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config.steps, config.lr, config.warmup)
        loss = sft_step(model, next(stream), optimizer, max_grad_norm=config.max_grad_norm)
        history.losses.append(loss)
        if on_step is not None:
            on_step(step, loss)
    if next(model.parameters()).device.type == "cuda":
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - started
    model.eval()
    return history


@torch.no_grad()
def continue_text(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int = 24, *,
                  stop_at_end: bool = True, stop_at_endoftext: bool = True, temperature: float = 0.0,
                  seed: int | None = None) -> str:
    """The model's continuation of `prompt` (special tokens allowed in it), as text.

    Greedy by default (temperature 0: always the most likely token). Generation stops at
    ``<|end|>`` (not included) when `stop_at_end`, and at ``<|endoftext|>`` when
    `stop_at_endoftext`; with both False it writes `max_new_tokens` tokens, and an
    ``<|endoftext|>`` it wrote shows in the text (a base model ends a document and starts another).
    Uses the model's ``generate`` (notebook 06, with its KV cache) when it has one, else a plain loop.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt, allowed_special="all")
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    if block_size is not None and len(ids) >= block_size:
        ids = ids[-(block_size - 1):]
    eot = tokenizer.special_tokens.get("<|endoftext|>") if stop_at_endoftext else None
    end = tokenizer.special_tokens.get(END_TOKEN) if stop_at_end else None
    stops = {t for t in (eot, end) if t is not None}
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device.type if device.type != "mps" else "cpu").manual_seed(seed)
    try:
        if callable(getattr(model, "generate", None)):
            out = model.generate(idx, max_new_tokens, temperature=temperature, generator=generator,
                                 eos_id=end if end is not None else eot)
            new = out[0, len(ids):].tolist()
        else:  # any model mapping (B, T) ids to (B, T, vocab) logits
            new = []
            for _ in range(max_new_tokens):
                logits = model(idx[:, -block_size:] if block_size else idx)[:, -1, :].float()   # (1, vocab)
                if temperature > 0:
                    next_id = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator)
                else:
                    next_id = logits.argmax(dim=-1, keepdim=True)                               # (1, 1)
                new.append(int(next_id))
                if new[-1] in stops:
                    break
                idx = torch.cat([idx, next_id], dim=1)
    finally:
        model.train(was_training)
    for position, token in enumerate(new):
        if token in stops:
            new = new[:position]
            break
    return tokenizer.decode(new)


def answer(model: nn.Module, tokenizer, question: str, max_new_tokens: int = 12) -> str:
    """The model's (greedy) answer to `question`, asked with the chat template."""
    from course_lib.data import extract_answer

    return extract_answer(continue_text(model, tokenizer, chat_template(question), max_new_tokens))


def answers(model: nn.Module, tokenizer, questions: Iterable[str], max_new_tokens: int = 12) -> list[str]:
    """:func:`answer` for each question."""
    return [answer(model, tokenizer, q, max_new_tokens) for q in questions]


def classify_continuation(text: str) -> str:
    """What a model wrote after a question: "question", "answer", "story" or "nothing".

    * "question": its first sentence ends with "?" (the base model's habit: a question follows a
      question, as in the corpus's reading questions);
    * "answer": a short phrase (at most 4 words) that is not a question, e.g. "near the lake";
    * "story": anything longer (more story, a statement about someone), including an
      ``<|endoftext|>`` followed by a new story: the model ended the text instead of answering;
    * "nothing": empty (or only end-of-text markers).
    """
    text = text.strip()
    if text.startswith("<|endoftext|>"):   # the document ended: what follows is a new one
        rest = text.replace("<|endoftext|>", " ").strip()
        return "story" if rest else "nothing"
    if not text:
        return "nothing"
    first_line = text.split("\n", 1)[0].strip()
    cut = len(first_line)
    for mark in ".!?":
        position = first_line.find(mark)
        if position != -1:
            cut = min(cut, position + 1)
    first_sentence = first_line[:cut].strip()
    if first_sentence.endswith("?"):
        return "question"
    if len(first_line.split()) <= 4 and "?" not in first_line:
        return "answer"
    return "story"


# ---------------------------------------------------------------------------------------------
# §6-7 LoRA: a low-rank update beside a frozen weight
# ---------------------------------------------------------------------------------------------

class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update (LoRA, Hu et al. 2021).

    ``y = base(x) + (alpha / r) * x @ A.T @ B.T`` with A (r, in_features) and B (out_features, r).
    The update ``(alpha / r) * B @ A`` has the shape of the weight (out, in) but rank at most r,
    and only A and B are trained: r * (in + out) numbers instead of in * out.

    B starts at zero, so a freshly wrapped layer computes exactly what `base` computed: training
    starts from the pretrained model, not from a perturbed one. A starts random (like an
    nn.Linear's weight); if both started at zero, no gradient would ever reach either.

    Attributes:
        base: the wrapped nn.Linear, its weight and bias frozen (requires_grad False).
        lora_A: nn.Parameter (r, in_features), random.
        lora_B: nn.Parameter (out_features, r), zeros.
        r, alpha: the rank and the scale numerator; scaling = alpha / r multiplies the update, so
            that changing r does not change how big the update starts to grow.
        merged: True after :meth:`merge` (the update then lives in base.weight).
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        """Args:
            base: the layer to wrap (kept, not copied: the model's weight is reused).
            r: the rank, > 0.
            alpha: the scale numerator (the update is multiplied by alpha / r).
            dropout: dropout on the input of the update path (0: none).
        """
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if int(r) != r or r <= 0:
            raise ValueError(f"the rank r must be a positive integer, got {r}")
        self.base = base
        self.r = int(r)
        self.alpha = float(alpha)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        # YOUR CODE HERE (notebook 08, §6)
        raise NotImplementedError("LoRALinear.__init__() is not written yet (notebook 08, §6). Hint: Freeze the base weight and bias; create lora_A (r, in) initialised like an nn.Linear weight and lora_B (out, r) as zeros, on the base weight's device and dtype; set self.scaling to alpha over r.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features): base(x) plus the scaled low-rank update."""
        if self.merged:  # the update is already inside base.weight
            return self.base(x)
        # YOUR CODE HERE (notebook 08, §6)
        raise NotImplementedError('LoRALinear.forward() is not written yet (notebook 08, §6). Hint: Add to base(x) the input (through self.dropout) multiplied by A transposed, then by B transposed, times self.scaling.')

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update to the base weight, W <- W + scaling * B @ A, so that inference costs
        one matmul as before. Outputs do not change. Calling it twice changes nothing more."""
        if self.merged:
            return
        # YOUR CODE HERE (notebook 08, §7)
        raise NotImplementedError('LoRALinear.merge() is not written yet (notebook 08, §7). Hint: Add self.scaling times the (out, in) product of B and A to the base weight, in place.')
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo :meth:`merge` (to keep training the adapters). Calling it on an unmerged layer
        changes nothing."""
        if not self.merged:
            return
        # YOUR CODE HERE (notebook 08, §7)
        raise NotImplementedError('LoRALinear.unmerge() is not written yet (notebook 08, §7). Hint: Subtract exactly what merge added from the base weight, in place.')
        self.merged = False

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, merged={self.merged}")


# ---------------------------------------------------------------------------------------------
# §8 Injecting LoRA into a model
# ---------------------------------------------------------------------------------------------

def inject_lora(model: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                targets: Sequence[str] = LORA_TARGETS) -> list[str]:
    """Freeze every parameter of `model`, then wrap its target linear layers in :class:`LoRALinear`.

    Args:
        model: any nn.Module, changed in place (e.g. the course GPT, whose attention layers sit at
            ``model.blocks[i].attn`` with projections q_proj, k_proj, v_proj and out_proj).
        r, alpha, dropout: passed to each LoRALinear.
        targets: attribute names of the layers to wrap: every nn.Linear child whose *own* name is
            in `targets`, anywhere in the model, is replaced by ``LoRALinear(that_linear, ...)``.

    Returns:
        The dotted names of the replaced layers, in `model.named_modules()` order
        (e.g. ``["blocks.0.attn.q_proj", "blocks.0.attn.k_proj", ...]``). Afterwards the only
        trainable parameters of the model are the adapters' lora_A and lora_B.
    """
    targets = tuple(targets)
    if not targets:
        raise ValueError("targets is empty: name the layers to wrap, e.g. ('q_proj', 'v_proj')")
    # YOUR CODE HERE (notebook 08, §8)
    raise NotImplementedError('inject_lora() is not written yet (notebook 08, §8). Hint: Freeze the whole model first; then, over a list of its named modules, replace each nn.Linear child whose name is a target by a LoRALinear around it (setattr on the parent) and record its dotted name.')


# ---------------------------------------------------------------------------------------------
# §9 Counting parameters
# ---------------------------------------------------------------------------------------------

def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total): numbers of scalar parameters of `model`.

    A parameter shared by two modules (the GPT's tied embedding and LM head) counts once;
    `trainable` counts the parameters with requires_grad True. Buffers are not parameters.
    """
    # YOUR CODE HERE (notebook 08, §9)
    raise NotImplementedError('count_parameters() is not written yet (notebook 08, §9). Hint: Go over model.parameters() (it lists a shared parameter once) and add up numel(), all of them for the total and those requiring a gradient for the trainable count.')


# ---------------------------------------------------------------------------------------------
# Provided: working with LoRA models
# ---------------------------------------------------------------------------------------------

def _count(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) for the provided helpers (so that they do not depend on §9)."""
    parameters = list(model.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def lora_modules(model: nn.Module) -> list[tuple[str, LoRALinear]]:
    """(name, layer) for every LoRALinear in `model`."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]


def merge_lora(model: nn.Module) -> int:
    """Merge every adapter of `model` into its base weight; returns how many were merged."""
    layers = lora_modules(model)
    for _, layer in layers:
        layer.merge()
    return len(layers)


def unmerge_lora(model: nn.Module) -> int:
    """Undo :func:`merge_lora`; returns how many adapters were unmerged."""
    layers = lora_modules(model)
    for _, layer in layers:
        layer.unmerge()
    return len(layers)


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every adapter and put the plain nn.Linear back in its place (in place; returns `model`).

    The result is an ordinary model again (same class, same state_dict keys as before LoRA), ready to
    be saved and loaded like the base model. Its parameters are made trainable again.
    """
    for name, layer in lora_modules(model):
        layer.merge()
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child_name, layer.base)
    model.requires_grad_(True)
    return model


def training_memory_bytes(model: nn.Module, *, optimizer_states: int = 2) -> dict[str, int]:
    """An estimate of what training `model` with Adam keeps in memory, by kind, in bytes.

    weights: every parameter; gradients: one per trainable parameter; optimizer: Adam keeps
    `optimizer_states` (2: the running mean and variance) per trainable parameter. Activations
    are left out (they depend on the batch, and are the same for full fine-tuning and LoRA).
    """
    trainable, total = _count(model)
    size = next(model.parameters()).element_size()
    return {"weights": total * size, "gradients": trainable * size,
            "optimizer": optimizer_states * trainable * size,
            "total": (total + trainable * (1 + optimizer_states)) * size}


def sft_recipe(model: nn.Module, tokenizer, *, mode: str | None = None, lora: bool = False,
               verbose: bool = True, progress: bool = False) -> tuple[nn.Module, SFTHistory]:
    """The course's fine-tuning recipe in one call: a copy of `model` fine-tuned on the training
    questions of `course_lib.data.qa_pairs` (full fine-tuning, or LoRA merged back when `lora`).

    Used by notebook 09 when no "sft" stage was saved by notebook 08. Returns (sft_model, history).
    """
    from course_lib.data import qa_pairs
    from course_lib.device import run_mode

    mode = mode or run_mode()
    sizes = SFT_SIZES[mode]
    sft = copy.deepcopy(model)
    if lora:
        inject_lora(sft, r=sizes["lora_r"], alpha=sizes["lora_alpha"])
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    examples = sft_examples(tokenizer, qa_pairs("train"), max_len=block_size)
    config = sizes["lora" if lora else "full"]
    if verbose:
        print(f"fine-tuning ({'LoRA' if lora else 'full'}, {mode} mode): {config.steps} steps of "
              f"{config.batch_size} questions")
    history = train_sft(sft, examples, _special_id(tokenizer, PAD_TOKEN), config, progress=progress)
    if lora:
        merge_and_unload(sft)
    sft.eval()
    return sft, history
