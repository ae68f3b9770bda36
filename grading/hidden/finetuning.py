"""Hidden checks for notebook 08 (fine-tuning and LoRA): instructor side only.

Same names as the public checks; fresh random questions, sizes, seeds, ranks and scales, other
special-token ids, frozen parameters, several steps in a row, other targets, and comparisons with
full implementations of the formulas computed here, in the judge (the public checks, shipped to
students, compare with literals). Self-contained: nothing is imported from solutions/.

`ORACLES` holds a correct `chat_template`, used by `hold_fixed` in the checks of
`build_sft_example` (which calls it), so a bug in the template costs the template's check only.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from course_lib.checks.finetuning import (
    IGNORE,
    ToyLM,
    WordTokenizer,
    _check_steps,
    inject_report,
    linear,
    lora_report,
    loss_and_logits_grad,
    set_adapters,
    sft_step_report,
    toy_model,
    freeze,
    toy_tokenizer,
)
from course_lib.checks.framework import expect, expect_close, expect_equal, hidden_check, hold_fixed

MODULE = "finetuning"


def _oracle_chat_template(question: str, answer: str | None = None) -> str:
    text = "<|user|>" + question.strip() + "<|assistant|>"
    return text if answer is None else text + " " + answer.strip() + "<|end|>"


ORACLES = {"chat_template": _oracle_chat_template}


def _qa_sample(rng: random.Random, n: int) -> list[tuple[str, str]]:
    from course_lib.data import qa_pairs

    pairs = qa_pairs("all", seed=rng.randrange(3))
    return [(p.question, p.answer) for p in rng.sample(pairs, n)]


# ---------------------------------------------------------------------------------------------

@hidden_check("finetuning.chat_template", timeout=10)
def hidden_chat_template(impl):
    rng = random.Random(801)
    for question, answer in _qa_sample(rng, 8) + [("请问 Mia 住在哪里？", "湖边"), ("Hi", "")]:
        question = rng.choice(["", " ", "\n", "  "]) + question + rng.choice(["", " ", "\n"])
        for a in (None, rng.choice(["", " "]) + answer + rng.choice(["", " ", "\n"])):
            got = impl.chat_template(question, a) if a is not None else impl.chat_template(question)
            expect_equal(got, _oracle_chat_template(question, a), f"chat_template({question!r}, {a!r})")


@hidden_check("finetuning.sft_example", timeout=15)
def hidden_sft_example(impl):
    rng = random.Random(802)
    with hold_fixed(MODULE, impl, "chat_template"):
        for offset in (0, 500):
            tokenizer = toy_tokenizer(offset)
            judge_tokenizer = WordTokenizer(offset)
            for question, answer in _qa_sample(rng, 6):
                ids = judge_tokenizer.encode(_oracle_chat_template(question, answer), allowed_special="all")
                n_prompt = len(judge_tokenizer.encode(_oracle_chat_template(question), allowed_special="all"))
                got = impl.build_sft_example(tokenizer, question, answer)
                what = (f"build_sft_example(tokenizer with <|user|>={offset + 1}, {question!r}, {answer!r})")
                expect(isinstance(got, dict), f"{what} returned {type(got).__name__}, expected a dict")
                got_ids = got["input_ids"].tolist() if isinstance(got["input_ids"], torch.Tensor) else got["input_ids"]
                got_labels = got["labels"].tolist() if isinstance(got["labels"], torch.Tensor) else got["labels"]
                expect_equal(got_ids, ids, f"{what}['input_ids']")
                expect_equal(got_labels, [IGNORE] * n_prompt + ids[n_prompt:], f"{what}['labels']")


@hidden_check("finetuning.pad_collate", timeout=10)
def hidden_pad_collate(impl):
    rng = random.Random(803)
    for trial in range(6):
        n = rng.randint(1, 6)
        pad = rng.choice([0, 4, 99, 50257])
        examples = []
        for _ in range(n):
            length = rng.randint(1, 9)
            ids = [rng.randrange(5, 60) for _ in range(length)]
            cut = rng.randint(0, length)
            examples.append({"input_ids": ids, "labels": [IGNORE] * cut + ids[cut:]})
        longest = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((n, longest), pad, dtype=torch.long)
        labels = torch.full((n, longest), IGNORE, dtype=torch.long)
        mask = torch.zeros(n, longest, dtype=torch.bool)
        for row, e in enumerate(examples):
            k = len(e["input_ids"])
            ids[row, :k] = torch.tensor(e["input_ids"])
            labels[row, :k] = torch.tensor(e["labels"])
            mask[row, :k] = True
        got = impl.pad_collate(examples, pad)
        what = f"pad_collate({examples}, pad_id={pad})"
        expect_equal(got["input_ids"], ids, f"{what}['input_ids']")
        expect_equal(got["labels"], labels, f"{what}['labels']")
        expect_equal(got["attention_mask"], mask, f"{what}['attention_mask']")


@hidden_check("finetuning.sft_loss", timeout=15)
def hidden_sft_loss(impl):
    generator = torch.Generator().manual_seed(804)
    for batch, length, vocab, dtype in ((1, 2, 3, torch.float32), (3, 7, 11, torch.float32),
                                        (2, 9, 50, torch.float64), (4, 5, 6, torch.float32)):
        logits = torch.randn(batch, length, vocab, generator=generator, dtype=dtype) * 2
        labels = torch.randint(0, vocab, (batch, length), generator=generator)
        hide = torch.rand(batch, length, generator=generator) < 0.4
        hide[0, 1] = False  # at least one token to score
        labels[hide] = IGNORE
        expected = F.cross_entropy(logits[:, :-1].reshape(-1, vocab).double(), labels[:, 1:].reshape(-1),
                                   ignore_index=IGNORE)
        what = f"sft_loss(random logits {tuple(logits.shape)} {dtype}, labels {labels.tolist()})"
        report = loss_and_logits_grad(impl, logits, labels)
        expect(report["is_tensor"] and report["requires_grad"], f"{what} must return a scalar tensor with a graph")
        expect_close(report["loss"].reshape(()).double(), expected, what, atol=1e-5, rtol=1e-5)
        grad = report["grad"]
        expected_zero = torch.ones(batch, length, dtype=torch.bool)
        expected_zero[:, :-1] = labels[:, 1:] == IGNORE
        expect(grad is not None and bool((grad[expected_zero] == 0).all()),
               f"{what}: a gradient reached logits whose next label is -100 (or the last position)")


@hidden_check("finetuning.sft_step", timeout=25)
def hidden_sft_step(impl):
    generator = torch.Generator().manual_seed(805)
    batches = []
    for batch, length in ((2, 5), (3, 4), (1, 7)):
        ids = torch.randint(0, 12, (batch, length), generator=generator)
        labels = ids.clone()
        labels[:, : length // 2] = IGNORE
        batches.append({"input_ids": ids, "labels": labels})
    for seed, lr, clip, frozen in ((3, 0.05, 100.0, ()), (4, 0.2, 0.05, ("tok_emb", "blocks.1.mlp")),
                                   (5, 0.01, None, ("blocks.0",))):
        steps = sft_step_report(impl, batches, lr, clip, seed, frozen)
        _check_steps(steps, lr, clip, f"sft_step(toy model (seed {seed}, frozen {list(frozen)}), batch, "
                     f"SGD(lr={lr}), max_grad_norm={clip})")
        for step in steps:
            for name, delta in step["delta"].items():
                if name.startswith(frozen) and frozen:
                    expect(bool((delta == 0).all()), f"sft_step changed the frozen parameter {name}")


def _oracle_lora(x, w, bias, a, b, scaling):
    return F.linear(x, w, bias) + scaling * (x @ a.T @ b.T)


@hidden_check("finetuning.lora_layer", timeout=15)
def hidden_lora_layer(impl):
    generator = torch.Generator().manual_seed(806)
    for d_in, d_out, r, alpha, dtype, with_bias, lead in ((5, 7, 1, 1.0, torch.float32, True, (4,)),
                                                          (16, 8, 4, 32.0, torch.float64, False, (2, 3)),
                                                          (6, 6, 3, 5.0, torch.float32, True, (1, 2, 2))):
        w = torch.randn(d_out, d_in, generator=generator, dtype=dtype)
        bias = torch.randn(d_out, generator=generator, dtype=dtype) if with_bias else None
        x = torch.randn(*lead, d_in, generator=generator, dtype=dtype)
        what = f"LoRALinear(nn.Linear({d_in}, {d_out}, bias={with_bias}, dtype={dtype}), r={r}, alpha={alpha})"
        layer = impl.LoRALinear(linear(w, bias), r=r, alpha=alpha)
        report = lora_report(layer, x)
        expect_equal(tuple(report["A"].shape), (r, d_in), f"{what}.lora_A.shape")
        expect_equal(tuple(report["B"].shape), (d_out, r), f"{what}.lora_B.shape")
        expect(report["A"].dtype == dtype and report["B"].dtype == dtype,
               f"{what}: the adapters have dtype {report['A'].dtype}, expected the base weight's {dtype}")
        expect(bool((report["B"] == 0).all()), f"{what}.lora_B must start at zero")
        expect(abs(float(report["scaling"]) - alpha / r) < 1e-9, f"{what}.scaling is {report['scaling']}, "
               f"expected {alpha / r}")
        expect_close(report["out"], F.linear(x, w, bias), f"{what}(x) right after wrapping", atol=1e-5)
        expect(not report["base_weight_requires_grad"], f"{what}: base.weight must be frozen")
        expect(report.get("base_weight_grad") is None, f"{what}: base.weight received a gradient")
        a = torch.randn(r, d_in, generator=generator, dtype=dtype)
        b = torch.randn(d_out, r, generator=generator, dtype=dtype)
        set_adapters(layer, a, b)
        out = lora_report(layer, x)["out"]
        expect_close(out, _oracle_lora(x, w, bias, a, b, alpha / r), f"{what} with random adapters, x of shape "
                     f"{tuple(x.shape)}", atol=1e-4, rtol=1e-4)


@hidden_check("finetuning.lora_merge", timeout=15)
def hidden_lora_merge(impl):
    generator = torch.Generator().manual_seed(807)
    for d_in, d_out, r, scaling, dtype in ((4, 6, 2, 0.5, torch.float32), (9, 3, 3, 8.0, torch.float64)):
        w = torch.randn(d_out, d_in, generator=generator, dtype=dtype)
        bias = torch.randn(d_out, generator=generator, dtype=dtype)
        a = torch.randn(r, d_in, generator=generator, dtype=dtype)
        b = torch.randn(d_out, r, generator=generator, dtype=dtype)
        x = torch.randn(2, 5, d_in, generator=generator, dtype=dtype)
        layer = impl.LoRALinear(linear(w, bias), r=r, alpha=1.0)
        set_adapters(layer, a, b)
        layer.scaling = scaling
        what = f"LoRALinear({d_in} -> {d_out}, r={r}, scaling {scaling}, {dtype}) after merge()"
        layer.merge()
        merged = w + scaling * (b @ a)
        expect_close(layer.base.weight, merged, f"{what}: base.weight", atol=1e-5, rtol=1e-5)
        expect_close(layer.base.bias, bias, f"{what}: base.bias (unchanged)", atol=0, rtol=0)
        expect_close(layer(x), F.linear(x, merged, bias), f"{what}: output", atol=1e-4, rtol=1e-4)
        layer.merge()
        expect_close(layer.base.weight, merged, f"{what} twice: base.weight", atol=1e-5, rtol=1e-5)
        layer.unmerge()
        expect_close(layer.base.weight, w, f"{what} then unmerge(): base.weight", atol=1e-5, rtol=1e-5)
        expect_close(layer.lora_A, a, f"{what} then unmerge(): lora_A (unchanged)", atol=0, rtol=0)


@hidden_check("finetuning.inject_lora", timeout=15)
def hidden_inject_lora(impl):
    names3 = [f"blocks.{i}.attn.{p}" for i in range(3) for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
    cases = [({"r": 3, "alpha": 6.0}, names3),
             ({"r": 1, "targets": ("out_proj", "q_proj")},
              [n for n in names3 if n.endswith(("q_proj", "out_proj"))]),
             ({"r": 2, "targets": ["0", "k_proj"]},
              [n for i in range(3) for n in (f"blocks.{i}.attn.k_proj", f"blocks.{i}.mlp.0")]),
             ({"r": 2, "targets": ("norm", "ln")}, [])]
    for kwargs, expected in cases:
        what = f"inject_lora(toy model with 3 blocks of width 4, {kwargs})"
        report = inject_report(impl, toy_model(seed=9, d=4, n_blocks=3), kwargs)
        expect_equal(report["returned"], expected, what)
        expect_equal(sorted(report["wrapped"]), sorted(expected), f"{what}: the LoRALinear layers in the model")
        # The wrapped layers' own base weights are LoRALinear's business (the lora_layer check).
        trainable = [n for n in report["trainable"] if not any(n.startswith(f"{w}.base.") for w in expected)]
        expect_equal(sorted(trainable), sorted(f"{n}.lora_{m}" for n in expected for m in "AB"),
                     f"{what}: the trainable parameters (outside the wrapped layers' base)")
        for name, info in report["wrapped"].items():
            expect(info["base_is_original"], f"{what}: {name}.base is not the original layer")
            expect_equal(info["A_shape"][0], kwargs["r"], f"{what}: {name}.lora_A.shape[0]")


@hidden_check("finetuning.count_parameters", timeout=10)
def hidden_count_parameters(impl):
    rng = random.Random(809)
    for vocab, d, n_blocks in ((7, 4, 1), (20, 6, 3)):
        model = toy_model(seed=1, vocab=vocab, d=d, n_blocks=n_blocks)
        judge = ToyLM(vocab, d, n_blocks)
        total = sum(p.numel() for p in judge.parameters())
        got = impl.count_parameters(model)
        got = tuple(got) if isinstance(got, (list, tuple)) else got
        expect_equal(got, (total, total), f"count_parameters(toy model vocab={vocab}, d={d}, {n_blocks} blocks)")
        prefixes = rng.sample(["tok_emb", "norm", "blocks.0.attn", "blocks.0.mlp", "blocks.0.ln"], 2)
        freeze(model, prefixes)
        trainable = sum(p.numel() for name, p in judge.named_parameters()
                        if not any(name.startswith(prefix) for prefix in prefixes))
        got = impl.count_parameters(model)
        got = tuple(got) if isinstance(got, (list, tuple)) else got
        expect_equal(got, (trainable, total), f"count_parameters(toy model vocab={vocab}, d={d}, {n_blocks} "
                     f"blocks, {prefixes} frozen)")
