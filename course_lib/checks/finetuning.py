"""Public checks for notebook 08 (fine-tuning and LoRA): ``check("finetuning.sft_loss")``.

    finetuning.chat_template     §1  the chat template, with the special tokens
    finetuning.sft_example       §2  ids and labels, -100 on the prompt (a hand-made example)
    finetuning.pad_collate       §3  right padding: pad ids, -100 labels, attention mask
    finetuning.sft_loss          §4  next-token cross-entropy on the answer tokens only
    finetuning.sft_step          §5  one optimisation step: fresh gradients, clipping, the loss before the step
    finetuning.lora_layer        §6  LoRALinear: frozen base, B = 0 (starts identical), scaling alpha / r
    finetuning.lora_merge        §7  merge / unmerge: W + scaling * B @ A, and back
    finetuning.inject_lora       §8  wrap the attention projections by name; only adapters train
    finetuning.count_parameters  §9  (trainable, total), a shared weight counted once

The expected values are literals worked out by hand or once with the course's reference (and
pasted here), properties any correct answer has, and PyTorch's own `F.cross_entropy`,
`F.linear` and `clip_grad_norm_` formula. The checks use small stand-ins built here: a toy
word-level tokenizer (ids you can read) and a toy language model with the GPT's attribute names
(``blocks[i].attn.q_proj`` ...), so that they run in a blink and do not depend on notebooks 06-07.

One bug costs once: `build_sft_example` is checked with a correct `chat_template` in its place
when the course grades it, and `sft_step` is checked against *your* `sft_loss` (whatever it
computes, the step must descend its gradient). In your own copy your own functions are used, so
pass the checks in order.
"""

from __future__ import annotations

import copy
import re

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    hold_fixed,
    probe,
    public_check,
)

MODULE = "finetuning"
IGNORE = -100

# ---------------------------------------------------------------------------------------------
# Stand-ins used by the checks (they run where your code runs, so they are plain classes here)
# ---------------------------------------------------------------------------------------------

SPECIALS = {"<|endoftext|>": 0, "<|user|>": 1, "<|assistant|>": 2, "<|end|>": 3, "<|pad|>": 4}
WORDS = ["Where", " does", " Mia", " live", "?", " near", " the", " lake", "Who", " is", " Tom", "'s",
         " best", " friend", " Sam", ".", "What", " colour", " kite", " red"]
WORD_IDS = {w: 10 + i for i, w in enumerate(WORDS)}  # "Where" -> 10, " does" -> 11, ...
_PIECE = re.compile(r"<\|[a-z]+\|>|'s| ?[A-Za-z]+| ?[0-9]+| ?[^A-Za-z0-9\s]|\s")


class WordTokenizer:
    """A toy tokenizer with the course Tokenizer's interface: one id per word (with its leading
    space, as BPE has), the chat special tokens at ids 0-4, and any other character as
    1000 + its code point. `encode` follows the course's `allowed_special` rules."""

    def __init__(self, special_offset: int = 0) -> None:
        self.special_tokens = {name: special_offset + i for name, i in SPECIALS.items()}

    @property
    def vocab_size(self) -> int:
        return 1000 + 0x110000

    def encode(self, text: str, allowed_special: str = "none_raise") -> list[int]:
        if allowed_special not in ("all", "none", "none_raise"):
            raise ValueError(f"allowed_special must be 'all', 'none' or 'none_raise', got {allowed_special!r}")
        if allowed_special == "none_raise":
            for name in self.special_tokens:
                if name in text:
                    raise ValueError(f"the text contains the special token {name!r}; pass allowed_special='all' "
                                     "to encode it as its id")
        ids = []
        for piece in _PIECE.findall(text):
            if piece in self.special_tokens and allowed_special == "all":
                ids.append(self.special_tokens[piece])
            elif piece in WORD_IDS:
                ids.append(WORD_IDS[piece])
            else:
                ids.extend(1000 + ord(c) for c in piece)
        return ids

    def decode(self, ids) -> str:
        names = {i: w for w, i in {**WORD_IDS, **self.special_tokens}.items()}
        return "".join(names[i] if i in names else chr(i - 1000) for i in ids)


class ToyMixer(nn.Module):
    """Stands in for attention in the checks (it mixes features, not positions) with the same
    four projections as notebook 04's MultiHeadAttention: q_proj, k_proj, v_proj, out_proj."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.q_proj(x) * self.k_proj(x))
        return self.out_proj(gate * self.v_proj(x))


class ToyBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.attn = ToyMixer(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln(x))
        return x + self.mlp(x)


class ToyLM(nn.Module):
    """A tiny language model with the course GPT's attribute names: tok_emb, blocks[i].attn.q_proj
    ..., blocks[i].mlp, norm, lm_head (its weight tied to tok_emb's). vocab 12, d_model 8, 2 blocks:
    1,280 parameters (the tied matrix counted once)."""

    def __init__(self, vocab: int = 12, d: int = 8, n_blocks: int = 2) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(ToyBlock(d) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.tok_emb.weight
        self.register_buffer("position_scale", torch.ones(d))  # a buffer: not a parameter

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(idx) * self.position_scale
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm(x))


class PlainSGD:
    """SGD without momentum (p -= lr * p.grad) with torch.optim's interface (param_groups,
    zero_grad, step). Not torch.optim.SGD: creating the first torch.optim optimizer of a process
    imports torch._dynamo, seconds that a check need not spend."""

    def __init__(self, params, lr: float) -> None:
        self.param_groups = [{"params": list(params), "lr": lr}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


def _seeded(build, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# ---------------------------------------------------------------------------------------------
# Probes: they run next to your code and report what happened (no expected values here)
# ---------------------------------------------------------------------------------------------

@probe
def toy_tokenizer(special_offset: int = 0):
    """A WordTokenizer (a handle for the judge)."""
    return WordTokenizer(special_offset)


@probe
def toy_model(seed: int = 0, vocab: int = 12, d: int = 8, n_blocks: int = 2):
    """A freshly initialised ToyLM (a handle for the judge)."""
    return _seeded(lambda: ToyLM(vocab, d, n_blocks), seed)


@probe
def linear(weight: torch.Tensor, bias: torch.Tensor | None):
    """An nn.Linear holding the given weight (out, in) and bias (a handle for the judge)."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


@probe
def loss_and_logits_grad(impl, logits: torch.Tensor, labels: torch.Tensor):
    """sft_loss on leaf logits, then backward: the loss and the gradient on each logit."""
    logits = logits.detach().clone().requires_grad_(True)
    loss = impl.sft_loss(logits, labels)
    report = {"loss": loss.detach() if isinstance(loss, torch.Tensor) else loss,
              "is_tensor": isinstance(loss, torch.Tensor),
              "requires_grad": bool(getattr(loss, "requires_grad", False)), "grad": None}
    if isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1:
        loss.backward()
        report["grad"] = logits.grad
    return report


@probe
def sft_step_report(impl, batches: list, lr: float, max_grad_norm, seed: int = 0, frozen: tuple = ()):
    """Run sft_step on a ToyLM for each batch, with SGD; before each step, measure what your own
    sft_loss says on that batch and its gradient (on a copy of the model); stale gradients are
    left on the model before each call. Parameters whose name starts with one of `frozen` are frozen."""
    model = _seeded(ToyLM, seed)
    for name, parameter in model.named_parameters():
        if any(name.startswith(prefix) for prefix in frozen):
            parameter.requires_grad_(False)
    model.eval()  # sft_step must switch to training mode itself
    optimizer = PlainSGD(model.parameters(), lr=lr)
    steps = []
    for batch in batches:
        twin = copy.deepcopy(model)
        twin.train()
        loss = impl.sft_loss(twin(batch["input_ids"]), batch["labels"])
        loss.backward()
        grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                 for n, p in twin.named_parameters()}
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.full_like(p, 0.5)  # stale gradients from "an earlier step"
        returned = impl.sft_step(model, batch, optimizer, max_grad_norm=max_grad_norm)
        steps.append({
            "returned": returned if isinstance(returned, (int, float)) else None,
            "returned_type": type(returned).__name__,
            "loss": loss.item(),
            "grads": grads,
            "delta": {n: p.detach() - before[n] for n, p in model.named_parameters()},
            "training": model.training,
        })
    return steps


@probe
def lora_report(layer, x: torch.Tensor):
    """What a LoRALinear holds and computes: parameters, flags, output and gradients for x."""
    base = getattr(layer, "base", None)
    a, b = getattr(layer, "lora_A", None), getattr(layer, "lora_B", None)
    report = {
        "is_module": isinstance(layer, nn.Module),
        "base_is_linear": isinstance(base, nn.Linear),
        "parameter_names": sorted(n for n, _ in layer.named_parameters()) if isinstance(layer, nn.Module) else [],
        "A": a.detach().clone() if isinstance(a, torch.Tensor) else None,
        "B": b.detach().clone() if isinstance(b, torch.Tensor) else None,
        "A_is_parameter": isinstance(a, nn.Parameter), "B_is_parameter": isinstance(b, nn.Parameter),
        "A_requires_grad": bool(getattr(a, "requires_grad", False)),
        "B_requires_grad": bool(getattr(b, "requires_grad", False)),
        "base_weight_requires_grad": bool(base.weight.requires_grad) if isinstance(base, nn.Linear) else None,
        "base_bias_requires_grad": (bool(base.bias.requires_grad) if isinstance(base, nn.Linear)
                                    and base.bias is not None else None),
        "scaling": getattr(layer, "scaling", None),
    }
    x = x.clone()
    out = layer(x)
    report["out"] = out.detach() if isinstance(out, torch.Tensor) else out
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.sum().backward()
        report["A_grad"] = a.grad if isinstance(a, torch.Tensor) else None
        report["B_grad"] = b.grad if isinstance(b, torch.Tensor) else None
        report["base_weight_grad"] = base.weight.grad if isinstance(base, nn.Linear) else None
    return report


@probe
def set_adapters(layer, a: torch.Tensor, b: torch.Tensor) -> None:
    """Overwrite the layer's lora_A and lora_B in place (to test with known values)."""
    with torch.no_grad():
        layer.lora_A.copy_(a)
        layer.lora_B.copy_(b)


@probe
def inject_report(impl, model, kwargs: dict):
    """Call inject_lora(model, **kwargs) and report what became of the model."""
    before = {name: module for name, module in model.named_modules()}
    returned = impl.inject_lora(model, **kwargs)
    lora_class = getattr(impl, "LoRALinear", None)
    wrapped = {}
    for name, module in model.named_modules():
        if isinstance(lora_class, type) and isinstance(module, lora_class):
            base = getattr(module, "base", None)
            wrapped[name] = {"base_is_original": name in before and base is before[name],
                             "A_shape": list(getattr(module, "lora_A").shape)}
    return {
        "returned": list(returned) if isinstance(returned, (list, tuple)) else None,
        "returned_type": type(returned).__name__,
        "wrapped": wrapped,
        "trainable": [n for n, p in model.named_parameters() if p.requires_grad],
        "types": {n: type(m).__name__ for n, m in model.named_modules()},
    }


@probe
def freeze(model, prefixes: list) -> None:
    """requires_grad False for the parameters whose name starts with one of `prefixes`."""
    for name, parameter in model.named_parameters():
        if any(name.startswith(p) for p in prefixes):
            parameter.requires_grad_(False)


# ---------------------------------------------------------------------------------------------
# §1 chat_template
# ---------------------------------------------------------------------------------------------

@public_check("finetuning.chat_template", timeout=10)
def check_chat_template(impl):
    """chat_template writes <|user|>question<|assistant|>, then " answer<|end|>" when given an answer."""
    got = impl.chat_template("Where does Mia live?")
    expect_equal(got, "<|user|>Where does Mia live?<|assistant|>",
                 'chat_template("Where does Mia live?") (the prompt: user token, question, assistant token, '
                 'nothing after it)')
    got = impl.chat_template("Where does Mia live?", "near the lake")
    expected = "<|user|>Where does Mia live?<|assistant|> near the lake<|end|>"
    if isinstance(got, str) and got == expected.replace(" near", "near"):
        raise CheckFailed(f'chat_template("Where does Mia live?", "near the lake") returned {got!r}, expected '
                          f"{expected!r}: put one space before the answer, so that its first word is "
                          'tokenized as in the stories (" near", with its space)')
    expect_equal(got, expected, 'chat_template("Where does Mia live?", "near the lake") (the prompt, a space, '
                 "the answer, the end token)")
    got = impl.chat_template("  What colour is Tom's kite? \n", " red ")
    expect_equal(got, "<|user|>What colour is Tom's kite?<|assistant|> red<|end|>",
                 "chat_template(\"  What colour is Tom's kite? \\n\", \" red \") (whitespace around the "
                 "question and the answer is removed)")


# ---------------------------------------------------------------------------------------------
# §2 build_sft_example
# ---------------------------------------------------------------------------------------------

# The hand-made example. With the toy tokenizer, "<|user|>Where does Mia live?<|assistant|> near
# the lake<|end|>" is 11 tokens; the first 7 are the prompt (up to <|assistant|>).
SFT_IDS = [1, 10, 11, 12, 13, 14, 2, 15, 16, 17, 3]
#          <|user|> Where does Mia live ? <|assistant|> near the lake <|end|>
SFT_LABELS = [IGNORE] * 7 + [15, 16, 17, 3]


@public_check("finetuning.sft_example", timeout=10)
def check_sft_example(impl):
    """build_sft_example keeps every id and hides the prompt from the loss with -100 labels."""
    tokenizer = toy_tokenizer()
    what = ('build_sft_example(tokenizer, "Where does Mia live?", "near the lake") with a word-level toy '
            "tokenizer (<|user|>=1, <|assistant|>=2, <|end|>=3, Where=10, does=11, Mia=12, live=13, ?=14, "
            "near=15, the=16, lake=17)")
    with hold_fixed(MODULE, impl, "chat_template"):
        got = impl.build_sft_example(tokenizer, "Where does Mia live?", "near the lake")
        expect(isinstance(got, dict) and {"input_ids", "labels"} <= set(got),
               f"{what} returned {got!r}, expected a dict with keys 'input_ids' and 'labels'")
        ids, labels = got["input_ids"], got["labels"]
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if isinstance(labels, torch.Tensor):
            labels = labels.tolist()
        if ids != SFT_IDS and isinstance(ids, list) and 1 not in ids:
            raise CheckFailed(f"{what}: input_ids {ids} do not contain the special token ids: encode the "
                              "template with allowed_special='all', so that '<|user|>' becomes id 1")
        expect_equal(ids, SFT_IDS, f"{what}['input_ids'] (the ids of the whole template)")
        if labels == SFT_IDS:
            raise CheckFailed(f"{what}['labels'] returned {labels}, expected {SFT_LABELS}: the 7 prompt "
                              "positions must be -100, or the model is trained to write questions too")
        if labels == SFT_LABELS[1:] + [IGNORE] or labels == SFT_IDS[1:] + [IGNORE]:
            raise CheckFailed(f"{what}['labels'] returned {labels}, expected {SFT_LABELS}: do not shift the "
                              "labels here (labels[t] is the token AT position t); sft_loss does the shift")
        expect_equal(labels, SFT_LABELS, f"{what}['labels'] (-100 on the 7 prompt positions, then the "
                     "answer's ids and <|end|>)")
        got = impl.build_sft_example(tokenizer, "Who is Tom's best friend?", "Sam.")
        expect_equal(got["labels"] if isinstance(got, dict) else got,
                     [IGNORE] * 9 + [24, 25, 3],
                     'build_sft_example(tokenizer, "Who is Tom\'s best friend?", "Sam.")[\'labels\'] '
                     "(prompt: <|user|> Who is Tom 's best friend ? <|assistant|>, 9 tokens)")


# ---------------------------------------------------------------------------------------------
# §3 pad_collate
# ---------------------------------------------------------------------------------------------

@public_check("finetuning.pad_collate", timeout=10)
def check_pad_collate(impl):
    """pad_collate pads on the right: pad_id in input_ids, -100 in labels, False in attention_mask."""
    examples = [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]},
                {"input_ids": [8, 9, 10, 11, 12], "labels": [IGNORE, IGNORE, IGNORE, 11, 12]},
                {"input_ids": [13], "labels": [13]}]
    what = ("pad_collate([{ids [5, 6, 7], labels [-100, 6, 7]}, {ids [8, 9, 10, 11, 12], labels [-100, -100, "
            "-100, 11, 12]}, {ids [13], labels [13]}], pad_id=4)")
    got = impl.pad_collate(examples, 4)
    expect(isinstance(got, dict) and {"input_ids", "labels", "attention_mask"} <= set(got),
           f"{what} returned {got!r}, expected a dict with input_ids, labels and attention_mask")
    expected_ids = torch.tensor([[5, 6, 7, 4, 4], [8, 9, 10, 11, 12], [13, 4, 4, 4, 4]])
    expected_labels = torch.tensor([[IGNORE, 6, 7, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE, 11, 12],
                                    [13, IGNORE, IGNORE, IGNORE, IGNORE]])
    expected_mask = torch.tensor([[True, True, True, False, False], [True] * 5, [True] + [False] * 4])
    for key, expected, dtype in (("input_ids", expected_ids, torch.long), ("labels", expected_labels, torch.long),
                                 ("attention_mask", expected_mask, torch.bool)):
        value = got[key]
        expect(isinstance(value, torch.Tensor), f"{what}[{key!r}] is a {type(value).__name__}, expected a tensor")
        expect(value.dtype == dtype, f"{what}[{key!r}] has dtype {value.dtype}, expected {dtype}")
        if key == "labels" and tuple(value.shape) == (3, 5) and bool((value == 4).any()):
            raise CheckFailed(f"{what}['labels'] is {value.tolist()}: pad the labels with -100, not with pad_id, "
                              "so that the padding never counts in the loss")
        if key == "input_ids" and tuple(value.shape) == (3, 5) and torch.equal(value.flip(1) != 4,
                                                                               expected_mask):
            raise CheckFailed(f"{what}['input_ids'] is {value.tolist()}: the padding went on the left; put it on "
                              "the right (after each example)")
        expect_equal(value, expected, f"{what}[{key!r}]")
    got = impl.pad_collate([{"input_ids": [1, 2], "labels": [IGNORE, 2]}], 0)
    expect_equal(got["input_ids"], torch.tensor([[1, 2]]), "pad_collate([{ids [1, 2], labels [-100, 2]}], "
                 "pad_id=0)['input_ids'] (one example: nothing to pad, shape (1, 2))")


# ---------------------------------------------------------------------------------------------
# §4 sft_loss
# ---------------------------------------------------------------------------------------------

LOSS_LOGITS = torch.tensor([[[0.5, -1.0, 2.0, 0.0, 1.0],
                             [1.5, 0.5, -0.5, 2.5, 0.0],
                             [-1.0, 3.0, 0.5, 0.0, 1.0],
                             [0.0, 0.0, 1.0, -2.0, 0.5]]])          # (1, 4, 5): 4 positions, 5 words
LOSS_LABELS = torch.tensor([[IGNORE, IGNORE, 2, 4]])                # the answer is at positions 2 and 3


@public_check("finetuning.sft_loss", timeout=10)
def check_sft_loss(impl):
    """sft_loss scores the logits at t against the label at t + 1, skipping -100, averaged per token."""
    what = "sft_loss(logits (1, 4, 5), labels [[-100, -100, 2, 4]])"
    report = loss_and_logits_grad(impl, LOSS_LOGITS, LOSS_LABELS)
    expect(report["is_tensor"], f"{what} returned a {type(report['loss']).__name__}, expected a scalar tensor")
    loss = report["loss"]
    expect(loss.numel() == 1, f"{what} has shape {tuple(loss.shape)}, expected a scalar (one number)")
    expect(report["requires_grad"], f"{what} does not require a gradient: compute it with torch operations on "
           "the logits (no .item(), .detach() or .numpy()), so that backward() can train the model")
    # Position 1 predicts the label at 2 (word 2), position 2 the label at 3 (word 4).
    expected = F.cross_entropy(LOSS_LOGITS[0, [1, 2]], torch.tensor([2, 4]))
    unshifted = F.cross_entropy(LOSS_LOGITS[0, [2, 3]], torch.tensor([2, 4]))
    if abs(float(loss) - float(unshifted)) < 1e-5:
        raise CheckFailed(f"{what} returned {float(loss):.6f}, expected {float(expected):.6f}: the logits at "
                          "position t predict the token at t + 1; compare logits[:, :-1] with labels[:, 1:]")
    expect_close(loss.reshape(()), expected, f"{what} (positions 1 and 2 predict the answer words 2 and 4)",
                 atol=1e-5)
    grad = report["grad"]
    expect(grad is not None and bool((grad[0, [0, 3]] == 0).all()),
           f"{what}: backward() put a gradient on position 0 or 3, whose next labels are -100 or absent")

    # A batch of two rows with different numbers of answer tokens: each answer token weighs the same.
    logits = torch.cat([LOSS_LOGITS, LOSS_LOGITS.flip(1)], dim=0)             # (2, 4, 5)
    labels = torch.tensor([[IGNORE, IGNORE, 2, 4], [IGNORE, 1, 0, 3]])        # 2 + 3 answer tokens
    rows = torch.cat([logits[0, [1, 2]], logits[1, [0, 1, 2]]])
    expected = F.cross_entropy(rows, torch.tensor([2, 4, 1, 0, 3]))
    got = loss_and_logits_grad(impl, logits, labels)["loss"]
    row_mean = (F.cross_entropy(rows[:2], torch.tensor([2, 4])) + F.cross_entropy(rows[2:], torch.tensor([1, 0, 3]))) / 2
    if abs(float(got) - float(row_mean)) < 1e-5 and abs(float(row_mean) - float(expected)) > 1e-4:
        raise CheckFailed("sft_loss on a batch of 2 rows with 2 and 3 answer tokens averaged the rows' losses; "
                          "average over all 5 answer tokens instead (flatten before the cross-entropy)")
    expect_close(got.reshape(()), expected, "sft_loss(logits (2, 4, 5), labels [[-100, -100, 2, 4], "
                 "[-100, 1, 0, 3]]) (the mean over the 5 answer tokens of the batch)", atol=1e-5)
    expect_raises(lambda: impl.sft_loss(LOSS_LOGITS, LOSS_LABELS[:, :3]), ValueError,
                  "sft_loss(logits (1, 4, 5), labels (1, 3))", "The shape check given in the stub raises it: "
                  "keep it before your code.")


# ---------------------------------------------------------------------------------------------
# §5 sft_step
# ---------------------------------------------------------------------------------------------

STEP_BATCHES = [
    {"input_ids": torch.tensor([[1, 5, 6, 2, 7, 3], [1, 8, 2, 9, 3, 4]]),
     "labels": torch.tensor([[IGNORE, IGNORE, IGNORE, IGNORE, 7, 3], [IGNORE, IGNORE, IGNORE, 9, 3, IGNORE]])},
    {"input_ids": torch.tensor([[1, 10, 11, 2, 5, 3]]),
     "labels": torch.tensor([[IGNORE, IGNORE, IGNORE, IGNORE, 5, 3]])},
]


def _expected_delta(grads: dict, lr: float, max_grad_norm) -> dict:
    """-lr times the (clipped) gradient: SGD's update (clip coefficient as clip_grad_norm_ computes it)."""
    scale = 1.0
    if max_grad_norm is not None:
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())).item()
        scale = min(1.0, max_grad_norm / (norm + 1e-6))
    return {n: -lr * scale * g for n, g in grads.items()}


def _check_steps(steps: list, lr: float, max_grad_norm, what: str) -> None:
    for i, step in enumerate(steps):
        label = f"{what}, step {i + 1}"
        expect(step["returned_type"] == "float",
               f"{label} returned a {step['returned_type']}, expected a Python float (loss.item())")
        expect(abs(step["returned"] - step["loss"]) < 1e-5,
               f"{label} returned {step['returned']:.6f}, but sft_loss on that batch before the step gives "
               f"{step['loss']:.6f}: return the loss of this batch, computed before optimizer.step()")
        expect(step["training"], f"{label} left the model in eval mode: call model.train() (dropout must be on "
               "while training)")
        expected = _expected_delta(step["grads"], lr, max_grad_norm)
        stale = _expected_delta({n: g + 0.5 for n, g in step["grads"].items()}, lr, max_grad_norm)
        for name, delta in step["delta"].items():
            if not torch.allclose(delta, expected[name], atol=1e-6, rtol=1e-4):
                if all(torch.allclose(step["delta"][n], stale[n], atol=1e-6, rtol=1e-4) for n in stale):
                    raise CheckFailed(f"{label}: the parameters moved by the gradient plus gradients left from "
                                      "an earlier step; reset them (optimizer.zero_grad()) before backward()")
                if max_grad_norm is not None:
                    unclipped = _expected_delta(step["grads"], lr, None)
                    if all(torch.allclose(step["delta"][n], unclipped[n], atol=1e-6, rtol=1e-4) for n in unclipped):
                        raise CheckFailed(f"{label}: the gradient was not clipped to norm {max_grad_norm}; call "
                                          "torch.nn.utils.clip_grad_norm_ on the trainable parameters between "
                                          "backward() and optimizer.step()")
                if all(bool((d == 0).all()) for d in step["delta"].values()):
                    raise CheckFailed(f"{label}: no parameter changed; call loss.backward() then optimizer.step()")
                expect_close(delta, expected[name], f"{label}: the change of parameter {name} (one SGD step of "
                             "lr times the gradient of sft_loss)", atol=1e-6, rtol=1e-4)


@public_check("finetuning.sft_step", timeout=20)
def check_sft_step(impl):
    """sft_step resets the gradients, descends the gradient of sft_loss (clipped) and returns the loss."""
    steps = sft_step_report(impl, STEP_BATCHES, 0.1, None)
    _check_steps(steps, 0.1, None, "sft_step(toy model, batch, SGD(lr=0.1), max_grad_norm=None)")
    steps = sft_step_report(impl, STEP_BATCHES[:1], 0.1, 0.01)
    _check_steps(steps, 0.1, 0.01, "sft_step(toy model, batch, SGD(lr=0.1), max_grad_norm=0.01)")


# ---------------------------------------------------------------------------------------------
# §6 LoRALinear
# ---------------------------------------------------------------------------------------------

# A 3 -> 2 layer, rank 2, alpha 4 (so scaling = alpha / r = 2), and two inputs.
LORA_W = torch.tensor([[0.5, -1.0, 0.25], [1.0, 0.0, -0.5]])
LORA_BIAS = torch.tensor([0.1, -0.2])
LORA_A = torch.tensor([[1.0, 0.5, -0.5], [0.0, -1.0, 2.0]])      # (r, in)
LORA_B = torch.tensor([[0.5, -0.25], [1.0, 0.5]])                # (out, r)
LORA_X = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
# Worked out by hand (and with the reference): x @ W.T + bias + 2 * (x @ A.T) @ B.T
LORA_OUT = torch.tensor([[-2.15, 4.3], [-1.4, -3.2]])
LORA_OUT_SCALE_HALF = torch.tensor([[-1.025, 0.55], [-1.025, -1.7]])   # the same with scaling 0.5 = r / alpha
LORA_OUT_NO_SCALE = torch.tensor([[-1.4, 1.8], [-1.15, -2.2]])          # the same without scaling


@public_check("finetuning.lora_layer", timeout=15)
def check_lora_layer(impl):
    """LoRALinear freezes the base, starts with B = 0 (same outputs as the base) and adds (alpha/r) * B @ A."""
    what = "LoRALinear(nn.Linear(3, 2), r=2, alpha=4.0)"
    base = linear(LORA_W, LORA_BIAS)
    layer = impl.LoRALinear(base, r=2, alpha=4.0)
    report = lora_report(layer, LORA_X)
    expect(report["is_module"], f"{what} is not an nn.Module")
    expect(report["base_is_linear"], f"{what}.base is not the nn.Linear it wraps: keep it as self.base")
    expect(report["A_is_parameter"] and report["B_is_parameter"],
           f"{what}: lora_A and lora_B must be nn.Parameter, or the optimizer will never see them")
    expect_equal(tuple(report["A"].shape), (2, 3), f"{what}.lora_A.shape (r, in_features)")
    expect_equal(tuple(report["B"].shape), (2, 2), f"{what}.lora_B.shape (out_features, r)")
    expect(report["base_weight_requires_grad"] is False and report["base_bias_requires_grad"] is False,
           f"{what}: base.weight and base.bias still require a gradient; freeze them (requires_grad_(False)), "
           "LoRA trains the adapters only")
    expect(report["A_requires_grad"] and report["B_requires_grad"], f"{what}: lora_A and lora_B must be trainable")
    expect(bool((report["B"] == 0).all()),
           f"{what}.lora_B starts at {report['B'].tolist()}, expected zeros: with B = 0 the update B @ A is 0, so "
           "the wrapped model starts exactly where the pretrained one was")
    expect(bool((report["A"] != 0).any()) and bool(torch.isfinite(report["A"]).all()),
           f"{what}.lora_A starts at {report['A'].tolist()}: initialise it randomly (if A and B were both zero, "
           "no gradient would ever reach them)")
    expect_close(report["out"], F.linear(LORA_X, LORA_W, LORA_BIAS),
                 f"{what}(x) right after wrapping (B = 0: exactly the base layer's output)", atol=1e-6)
    expect(report.get("B_grad") is not None and bool((report["B_grad"] != 0).any()),
           f"{what}: after backward(), lora_B has no gradient; the update path must use lora_B")
    expect(report.get("base_weight_grad") is None, f"{what}: after backward(), base.weight has a gradient")
    scaling = report["scaling"]
    expect(isinstance(scaling, (int, float)) and abs(scaling - 2.0) < 1e-9,
           f"{what}.scaling is {scaling!r}, expected alpha / r = 4.0 / 2 = 2.0")

    set_adapters(layer, LORA_A, LORA_B)
    out = lora_report(layer, LORA_X)["out"]
    x_what = f"{what} with lora_A = {LORA_A.tolist()}, lora_B = {LORA_B.tolist()}, applied to x = {LORA_X.tolist()}"
    for wrong, why in ((LORA_OUT_SCALE_HALF, "scaled by r / alpha = 0.5; the scale is alpha / r"),
                       (LORA_OUT_NO_SCALE, "the update was not scaled; multiply it by self.scaling")):
        if isinstance(out, torch.Tensor) and out.shape == wrong.shape and torch.allclose(out, wrong, atol=1e-5):
            raise CheckFailed(f"{x_what} returned {out.tolist()}, expected {LORA_OUT.tolist()}: {why}")
    expect_close(out, LORA_OUT, f"{x_what} (base(x) + 2 * x @ A.T @ B.T)", atol=1e-5)
    out = impl.LoRALinear(linear(LORA_W, None), r=2, alpha=4.0)(LORA_X[None])
    expect_equal(tuple(out.shape), (1, 2, 2), "LoRALinear(nn.Linear(3, 2, bias=False), r=2, alpha=4.0)(x of shape "
                 "(1, 2, 3)).shape (any leading dimensions)")


# ---------------------------------------------------------------------------------------------
# §7 merge / unmerge
# ---------------------------------------------------------------------------------------------

LORA_MERGED_W = torch.tensor([[1.5, 0.0, -1.25], [3.0, 0.0, 0.5]])  # W + 2 * B @ A (by hand)
LORA_MERGED_W_NO_SCALE = torch.tensor([[1.0, -0.5, -0.5], [2.0, 0.0, 0.0]])  # W + B @ A


@public_check("finetuning.lora_merge", timeout=15)
def check_lora_merge(impl):
    """merge folds scaling * B @ A into the base weight (same outputs), unmerge takes it out again."""
    layer = impl.LoRALinear(linear(LORA_W, LORA_BIAS), r=2, alpha=4.0)
    set_adapters(layer, LORA_A, LORA_B)
    layer.scaling = 2.0
    what = (f"LoRALinear(nn.Linear with W = {LORA_W.tolist()}, r=2, alpha=4.0) with lora_A = {LORA_A.tolist()}, "
            f"lora_B = {LORA_B.tolist()} (scaling 2.0), after merge()")
    layer.merge()
    weight = layer.base.weight
    if isinstance(weight, torch.Tensor) and torch.allclose(weight, LORA_MERGED_W_NO_SCALE, atol=1e-6):
        raise CheckFailed(f"{what}: base.weight is {weight.tolist()}, expected {LORA_MERGED_W.tolist()}: multiply "
                          "B @ A by self.scaling before adding it, as forward() does")
    if isinstance(weight, torch.Tensor) and torch.allclose(weight, LORA_W, atol=1e-6):
        raise CheckFailed(f"{what}: base.weight did not change; add scaling * B @ A to it in place")
    expect_close(weight, LORA_MERGED_W, f"{what}: base.weight (W + scaling * B @ A)", atol=1e-6)
    expect(layer.merged is True, f"{what}: layer.merged is not True")
    expect_close(layer(LORA_X), LORA_OUT, f"{what}, applied to x = {LORA_X.tolist()} (the merged layer gives "
                 "the outputs the unmerged one gave)", atol=1e-5)
    layer.unmerge()
    expect_close(layer.base.weight, LORA_W, f"{what} then unmerge(): base.weight (back to W exactly)", atol=1e-6)
    expect(layer.merged is False, f"{what} then unmerge(): layer.merged is not False")
    expect_close(layer.lora_B, LORA_B, f"{what} then unmerge(): lora_B (merging must not change the adapters)")


# ---------------------------------------------------------------------------------------------
# §8 inject_lora
# ---------------------------------------------------------------------------------------------

ALL_TARGETS = [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("q_proj", "k_proj", "v_proj", "out_proj")]


@public_check("finetuning.inject_lora", timeout=15)
def check_inject_lora(impl):
    """inject_lora wraps each q/k/v/out projection, by name, and leaves only the adapters trainable."""
    what = "inject_lora(toy model, r=2, alpha=4.0)"
    report = inject_report(impl, toy_model(), {"r": 2, "alpha": 4.0})
    expect_equal(report["returned"], ALL_TARGETS, f"{what} (the names of the wrapped layers, in "
                 "model.named_modules() order)")
    expect_equal(sorted(report["wrapped"]), sorted(ALL_TARGETS), f"{what}: the LoRALinear layers found in the "
                 "model afterwards")
    for name, info in report["wrapped"].items():
        expect(info["base_is_original"], f"{what}: {name}.base is not the model's original nn.Linear; wrap the "
               "layer that is there (its pretrained weights), do not create a new one")
        expect_equal(info["A_shape"], [2, 8], f"{what}: {name}.lora_A.shape (r=2 was passed on)")
    expected_trainable = [f"{n}.lora_{m}" for n in ALL_TARGETS for m in "AB"]
    # (whether a wrapped layer freezes its own base is LoRALinear's business: the lora_layer check)
    extra = [n for n in report["trainable"] if n not in expected_trainable and ".base." not in n]
    expect(not extra, f"{what}: these parameters are still trainable: {extra[:6]}{' ...' if len(extra) > 6 else ''}; "
           "freeze the whole model (model.requires_grad_(False)) before wrapping, so only the adapters train")
    missing = [n for n in expected_trainable if n not in report["trainable"]]
    expect(not missing, f"{what}: the adapters {missing[:4]}{' ...' if len(missing) > 4 else ''} are not trainable; "
           "freeze the model BEFORE wrapping its layers, so that the new lora_A and lora_B stay trainable")
    report = inject_report(impl, toy_model(), {"r": 2, "alpha": 4.0, "targets": ("q_proj", "v_proj")})
    expect_equal(report["returned"], [n for n in ALL_TARGETS if n.endswith(("q_proj", "v_proj"))],
                 'inject_lora(toy model, r=2, alpha=4.0, targets=("q_proj", "v_proj"))')
    expect_equal(report["types"].get("blocks.0.mlp.0"), "Linear",
                 f'{what}: type of blocks.0.mlp.0 (an nn.Linear whose name, "0", is not a target)')


# ---------------------------------------------------------------------------------------------
# §9 count_parameters
# ---------------------------------------------------------------------------------------------

@public_check("finetuning.count_parameters", timeout=10)
def check_count_parameters(impl):
    """count_parameters returns (trainable, total), counting a shared weight once and ignoring buffers."""
    model = toy_model()
    # By hand: tok_emb 12*8 = 96 (lm_head shares it); per block: 4 projections 4*(64+8) = 288,
    # mlp (8*16+16) + (16*8+8) = 280, ln 16 -> 584, two blocks 1168; final norm 16. Total 1280.
    got = impl.count_parameters(model)
    if got == (1376, 1376) or got == [1376, 1376]:
        raise CheckFailed("count_parameters(toy model) returned (1376, 1376), expected (1280, 1280): lm_head.weight "
                          "IS tok_emb.weight (tied), count it once (model.parameters() lists it once)")
    expect_equal(tuple(got) if isinstance(got, (list, tuple)) else got, (1280, 1280),
                 "count_parameters(toy model with 1,280 parameters, all trainable; a tied weight and a buffer)")
    freeze(model, ["tok_emb", "blocks.0"])
    got = impl.count_parameters(model)
    expect_equal(tuple(got) if isinstance(got, (list, tuple)) else got, (600, 1280),
                 "count_parameters(toy model with tok_emb and blocks.0 frozen) (trainable: 584 + 16 = 600)")
