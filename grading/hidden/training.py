"""Hidden checks for notebook 07 (training): instructor side only.

Same names as the public checks; fresh random sizes and seeds, edge cases, and comparisons with
full implementations (the public checks, shipped to students, compare with PyTorch and with
literal values only). Self-contained: the expected values are computed here, nothing is imported
from solutions/ (the grader's sandbox hides it). What needs the learner's real objects
(gradients, optimizers, files) goes through the public probes of ``course_lib.checks.training``,
which also hold the earlier exercises fixed (train_step runs with PyTorch's cross-entropy and
clipping, evaluate with fixed batches), so a bug costs one exercise only.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, expect, expect_close, expect_equal, hidden_check
from course_lib.checks.training import (
    _batches,
    _compare_adamw,
    _torch_adamw_run,
    _torch_clipped,
    adamw_run,
    clip_run,
    cross_entropy_with_grad,
    evaluate_run,
    perplexity_run,
    resume_run,
    train_step_run,
)

# ---------------------------------------------------------------------------------------------
# Oracles (correct implementations, judge side only)
# ---------------------------------------------------------------------------------------------


def _ce(logits, targets, *, ignore_index=-100):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1),
                           ignore_index=ignore_index)


def _starts(length: int, batch_size: int, block_size: int, seed: int) -> list[int]:
    return torch.randint(length - block_size, (batch_size,), generator=torch.Generator().manual_seed(seed)).tolist()


def _lr(step, *, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


def _sgd_steps(table, batches, lrs, grad_clip):
    """train_step's effect with SGD (the probe's optimizer): the losses and tables after each step."""
    weight = table.detach().clone().requires_grad_(True)
    losses, tables = [], []
    for (x, y), lr in zip(batches, lrs):
        loss = F.cross_entropy(weight[x].reshape(-1, weight.shape[1]), y.reshape(-1))
        weight.grad = None
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_([weight], grad_clip)
        with torch.no_grad():
            weight -= lr * weight.grad
        losses.append(float(loss.detach()))
        tables.append(weight.detach().clone())
    return losses, tables


ORACLES = {"cross_entropy": _ce, "lr_schedule": _lr}


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

@hidden_check("training.cross_entropy")
def hidden_cross_entropy_random(impl) -> None:
    """Equals F.cross_entropy (value and gradient) on random shapes, ignore masks and dtypes."""
    rng = random.Random(7)
    for trial in range(4):
        torch.manual_seed(100 + trial)
        shape = (rng.randint(1, 3), rng.randint(1, 6))
        vocab = rng.randint(2, 40)
        logits = torch.randn(*shape, vocab) * rng.choice([0.1, 1.0, 8.0])
        targets = torch.randint(vocab, shape)
        ignore = rng.choice([-100, 0, vocab - 1])
        targets = torch.where(torch.rand(shape) < 0.3, torch.full(shape, ignore), targets)
        if bool((targets == ignore).all()):
            targets[0, 0] = 1 if ignore != 1 else 0
        kwargs = {} if ignore == -100 else {"ignore_index": ignore}
        what = f"cross_entropy(logits {tuple(logits.shape)}, targets {tuple(targets.shape)}, ignore_index={ignore})"
        r = cross_entropy_with_grad(impl, logits, targets, kwargs)
        expect(r["is_tensor"], f"{what} returned a {r['type']}")
        expect_close(r["loss"].double(), _ce(logits, targets, ignore_index=ignore), what, atol=1e-5)
        expect(r.get("grad") is not None, f"{what}: no gradient reached the logits")
        reference = logits.clone().requires_grad_(True)
        F.cross_entropy(reference.reshape(-1, vocab), targets.reshape(-1), ignore_index=ignore).backward()
        expect_close(r["grad"], reference.grad, f"the gradient of {what}", atol=1e-6)
    logits64 = torch.randn(5, 9, dtype=torch.float64)
    targets = torch.tensor([0, 8, 3, 3, 1])
    got = impl.cross_entropy(logits64, targets)
    expect_close(got.double(), _ce(logits64, targets), "cross_entropy with float64 logits", atol=1e-10)
    half = torch.randn(4, 6).bfloat16()
    got = impl.cross_entropy(half, torch.tensor([1, 2, 3, 5]))
    expect_close(got.double(), _ce(half.float(), torch.tensor([1, 2, 3, 5])), "cross_entropy with bfloat16 logits "
                 "(computed in float32)", atol=1e-4)


@hidden_check("training.get_batch")
def hidden_get_batch_random(impl) -> None:
    """Matches the documented draw on random sizes and seeds, any integer dtype, windows and targets exact."""
    rng = random.Random(3)
    for _ in range(5):
        length, block, batch, seed = rng.randint(20, 300), rng.randint(1, 16), rng.randint(1, 9), rng.randint(0, 999)
        dtype = rng.choice([torch.int64, torch.int32, torch.int16, torch.uint8])
        data = (torch.arange(length) * 7 % 251).to(dtype)
        what = f"get_batch(data of {length} {dtype} tokens, {batch}, {block}, generator seeded {seed})"
        got = _batches(impl, data, batch, block, seed, what, calls=2)
        generator = torch.Generator().manual_seed(seed)
        for call, batch_got in enumerate(got):
            starts = torch.randint(length - block, (batch,), generator=generator).tolist()
            x = torch.stack([data[s: s + block] for s in starts]).long()
            y = torch.stack([data[s + 1: s + 1 + block] for s in starts]).long()
            expect_equal(batch_got["x"], x, f"{what}, call {call + 1}: x")
            expect_equal(batch_got["y"], y, f"{what}, call {call + 1}: y")


@hidden_check("training.adamw", timeout=60)
def hidden_adamw_random(impl) -> None:
    """Equals torch.optim.AdamW over 12 steps with random settings, a changing lr, and a state_dict round trip."""
    rng = random.Random(11)
    for trial in range(3):
        torch.manual_seed(50 + trial)
        shapes = [tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3))) for _ in range(3)]
        params = [torch.randn(s) for s in shapes]
        options = dict(lr=rng.choice([1e-3, 3e-2, 0.2]), betas=(rng.choice([0.8, 0.9]), rng.choice([0.95, 0.999])),
                       eps=rng.choice([1e-8, 1e-6, 1e-3]), weight_decay=rng.choice([0.0, 0.01, 0.5]))
        grads = [[torch.randn(s) * rng.choice([1e-3, 1.0, 30.0]) if rng.random() > 0.15 else None for s in shapes]
                 for _ in range(12)]
        lrs = [options["lr"] * (0.5 + 0.5 * math.cos(i / 4)) for i in range(12)]
        groups = [{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}]
        what = f"AdamW(shapes {shapes}, {options}) with a changing lr, 12 steps"
        got = adamw_run(impl, groups, grads, options, trial == 1, lrs)
        _compare_adamw(got, _torch_adamw_run(groups, grads, options, lrs), what)


@hidden_check("training.lr_schedule")
def hidden_lr_schedule_random(impl) -> None:
    """Matches the formula for random settings, no warmup, warmup == total and far past the end."""
    rng = random.Random(5)
    for _ in range(6):
        warmup = rng.choice([0, 1, 3, 10])
        total = warmup + rng.choice([0, 1, 7, 50])
        max_lr = rng.choice([1e-4, 3e-3, 1.0])
        min_lr = rng.choice([0.0, max_lr / 10, max_lr])
        for step in sorted({0, max(0, warmup - 1), warmup, total - 1 if total else 0, total, total + 5,
                            rng.randint(0, total + 3)}):
            if step < 0:
                continue
            got = impl.lr_schedule(step, max_lr=max_lr, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
            expected = _lr(step, max_lr=max_lr, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
            expect(isinstance(got, (int, float)) and abs(got - expected) <= 1e-12 + 1e-9 * abs(expected),
                   f"lr_schedule({step}, max_lr={max_lr}, warmup_steps={warmup}, total_steps={total}, min_lr={min_lr}) "
                   f"returned {got}, expected {expected}")


@hidden_check("training.clip_grad_norm")
def hidden_clip_random(impl) -> None:
    """Equals clip_grad_norm_ on random gradients and limits; one tensor; all-zero gradients."""
    rng = random.Random(9)
    for trial in range(4):
        torch.manual_seed(trial)
        grads = [torch.randn(*(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))) * rng.choice([0.01, 1.0, 50.0])
                 if rng.random() > 0.2 else None for _ in range(rng.randint(2, 5))]
        if all(g is None for g in grads):
            grads[0] = torch.randn(3)
        max_norm = rng.choice([0.1, 1.0, 5.0])
        got = clip_run(impl, grads, max_norm)
        norm, expected = _torch_clipped(grads, max_norm)
        what = f"clip_grad_norm({len(grads)} random gradients, max_norm={max_norm})"
        expect(got["norm"] is not None, f"{what} returned no norm")
        expect_close(torch.as_tensor(float(got["norm"])), norm, f"{what}: the norm", atol=1e-4, rtol=1e-5)
        for i, (g, e) in enumerate(zip(got["grads"], expected)):
            if e is None:
                expect(g is None, f"{what}: a parameter without gradient got one")
            else:
                expect_close(g, e, f"{what}: gradient {i}", atol=1e-5, rtol=1e-5)
    one = torch.tensor([[6.0, 8.0]])
    got = clip_run(impl, [one], 5.0, True)
    expect_close(got["grads"][0], torch.tensor([[3.0, 4.0]]), "clip_grad_norm(one tensor with gradient [[6, 8]], 5.0) "
                 "(a single tensor is accepted as well as a list)", atol=1e-5)
    got = clip_run(impl, [torch.zeros(3), torch.zeros(2, 2)], 1.0)
    expect(got["norm"] is not None and float(got["norm"]) == 0.0, "clip_grad_norm(all-zero gradients, 1.0) must "
           "return 0")
    expect(all(bool(torch.isfinite(g).all()) and bool((g == 0).all()) for g in got["grads"]),
           "clip_grad_norm(all-zero gradients) must leave them zero (no NaN: eps keeps the division safe)")


@hidden_check("training.train_step")
def hidden_train_step_random(impl) -> None:
    """Equals SGD steps computed with PyTorch on random tables, batches, learning rates and clipping."""
    rng = random.Random(13)
    for trial in range(3):
        torch.manual_seed(trial)
        vocab = rng.randint(3, 9)
        table = torch.randn(vocab, vocab)
        shape = (rng.randint(1, 4), rng.randint(1, 6))
        batches = [(torch.randint(vocab, shape), torch.randint(vocab, shape)) for _ in range(3)]
        lrs = [rng.choice([0.01, 0.1, 0.5]) for _ in range(3)]
        clip = rng.choice([None, 0.05, 1.0, 100.0])
        what = f"train_step x3 on BigramLM({vocab}) with SGD, batches {shape}, lrs {lrs}, grad_clip={clip}"
        r = train_step_run(impl, table, batches, lrs, clip)
        losses, tables = _sgd_steps(table, batches, lrs, clip)
        for i in range(3):
            expect(r["losses"][i] is not None and abs(r["losses"][i] - losses[i]) < 1e-5,
                   f"{what}: loss {i + 1} is {r['losses'][i]}, expected {losses[i]:.6f}")
            expect_close(r["weights"][i], tables[i], f"{what}: the table after step {i + 1}", atol=1e-5)


@hidden_check("training.evaluate")
def hidden_evaluate_random(impl) -> None:
    """The mean of the batch losses in eval mode, on random tables and batches, for several iters."""
    rng = random.Random(17)
    for trial in range(3):
        torch.manual_seed(10 + trial)
        vocab, iters = rng.randint(3, 8), rng.randint(1, 5)
        table = torch.randn(vocab, vocab)
        shape = (rng.randint(1, 3), rng.randint(2, 5))
        batches = [(torch.randint(vocab, shape), torch.randint(vocab, shape)) for _ in range(iters)]
        r = evaluate_run(impl, table, 0.4, batches, torch.arange(vocab).repeat(10), rng.random() < 0.5, iters)
        expected = sum(float(F.cross_entropy(table[x].reshape(-1, vocab), y.reshape(-1))) for x, y in batches) / iters
        expect(r["result"] is not None and abs(float(r["result"]) - expected) < 1e-5,
               f"evaluate(BigramLM({vocab}, dropout=0.4), iters={iters}) returned {r['result']}, expected {expected:.6f}")


@hidden_check("training.checkpoint", timeout=60)
def hidden_checkpoint_random(impl) -> None:
    """Bit-identical resume for other sizes and interruption points (after 1 step, one step before the end)."""
    for vocab, steps, stop_at, seed, kind in ((5, 4, 1, 11, "adamw"), (9, 7, 6, 12, "sgd"), (3, 5, 2, 13, "adamw")):
        r = resume_run(impl, vocab, steps, stop_at, 0.3, kind, True, seed)
        expect_equal(r["step"], stop_at, f"load_checkpoint(...)['step'] after stopping at step {stop_at}")
        if not torch.equal(r["resumed"], r["straight"]):
            raise CheckFailed(f"a run of {steps} steps ({kind}, dropout 0.3) stopped after {stop_at} and resumed from "
                              "the checkpoint does not end bit-identical to the straight run")


@hidden_check("training.perplexity")
def hidden_perplexity_random(impl) -> None:
    """exp(mean NLL) of every prediction, on random streams, block sizes and batch sizes."""
    rng = random.Random(19)
    for trial in range(4):
        torch.manual_seed(trial)
        vocab = rng.randint(3, 10)
        table = torch.randn(vocab, vocab)
        tokens = torch.randint(vocab, (rng.randint(2, 60),))
        block, batch = rng.randint(1, 9), rng.randint(1, 5)
        r = perplexity_run(impl, table, 0.25, tokens, block, batch, True)
        expected = math.exp(float(F.cross_entropy(table[tokens[:-1]], tokens[1:])))
        what = f"perplexity(BigramLM({vocab}), {len(tokens)} tokens, block_size={block}, batch_size={batch})"
        expect(r["result"] is not None and abs(float(r["result"]) - expected) < 1e-4 * expected,
               f"{what} returned {r['result']}, expected {expected:.6f}")
        expect_equal(sum(s[0] * s[1] for s in r["shapes"]), len(tokens) - 1,
                     f"{what}: the number of predictions the model was asked for")
        expect(all(s[1] <= block for s in r["shapes"]), f"{what}: a window longer than block_size")
