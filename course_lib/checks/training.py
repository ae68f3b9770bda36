"""Public checks for notebook 07 (training): ``check("training.adamw")``.

The learner's code runs in a worker; these checks (the judge) compare what comes back with
PyTorch's own ``F.cross_entropy``, ``torch.optim.AdamW`` and ``clip_grad_norm_`` run here, with
LITERAL values computed once with the course's reference solution (pasted below, with how they
were made), and with properties any correct answer has. The probes (``@probe``) run in the worker
on real objects (gradients, optimizers, files) and only report what happened.

One bug costs once: where an exercise calls another one (train_step calls cross_entropy and
clip_grad_norm; evaluate calls get_batch and cross_entropy; perplexity calls cross_entropy), the
probe swaps those for PyTorch's equivalents (or for fixed batches) while it runs, so that a
mistake in cross_entropy is reported by the cross_entropy check only.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib.checks.framework import (
    CheckFailed,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    probe,
    public_check,
)
from course_lib.device import get_device

# ---------------------------------------------------------------------------------------------
# Probes: they run the learner's code on real objects and report what happened
# ---------------------------------------------------------------------------------------------


def _torch_cross_entropy(logits, targets, *, ignore_index=-100):
    """PyTorch's cross-entropy, with the vocabulary as the last dim (the course's convention)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=ignore_index)


def _torch_clip(parameters, max_norm, *, eps=1e-6):
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)


@contextlib.contextmanager
def _swapped(module, **replacements):
    """Within the block, `module`'s functions are replaced (in the worker), then restored."""
    saved = {name: getattr(module, name) for name in replacements}
    try:
        for name, function in replacements.items():
            setattr(module, name, function)
        yield
    finally:
        for name, function in saved.items():
            setattr(module, name, function)


@probe
def cross_entropy_with_grad(module, logits, targets, kwargs):
    """Call cross_entropy on logits that require grad, backpropagate, report value and gradient."""
    logits = logits.clone().requires_grad_(True)
    loss = module.cross_entropy(logits, targets, **kwargs)
    report = {"is_tensor": isinstance(loss, torch.Tensor), "type": type(loss).__name__}
    if not isinstance(loss, torch.Tensor):
        return report
    report.update(loss=loss.detach().clone(), shape=list(loss.shape), requires_grad=loss.requires_grad)
    if loss.requires_grad:
        loss.backward()
        report["grad"] = None if logits.grad is None else logits.grad.clone()
    return report


@probe
def get_batch_run(module, data, batch_size, block_size, seed, calls=1, device=None):
    """Call get_batch `calls` times with one generator seeded `seed` (None: no generator), made
    here in the worker; report the batches (on the CPU) and the devices they were on."""
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(calls):
        got = module.get_batch(data, batch_size, block_size, generator=generator, device=device)
        if not (isinstance(got, (tuple, list)) and len(got) == 2
                and all(isinstance(t, torch.Tensor) for t in got)):
            return {"error": f"returned a {type(got).__name__}" + (
                f" of {[type(t).__name__ for t in got]}" if isinstance(got, (tuple, list)) else "")}
        x, y = got
        batches.append({"x": x.detach().cpu(), "y": y.detach().cpu(), "devices": [x.device.type, y.device.type]})
    return {"batches": batches}


@probe
def adamw_run(module, groups, grads, options, state_dict_roundtrip=False, lrs=None):
    """Build the learner's AdamW over fresh copies of the parameters in `groups` (a list of
    {"params": [tensor, ...], ...}), and for each entry of `grads` (one gradient per parameter,
    None for "no gradient") set the gradients and step (after setting every group's lr to
    ``lrs[step]`` when `lrs` is given, as a schedule does). Report the parameters after every step."""
    params, built = [], []
    for group in groups:
        tensors = [p.detach().clone().requires_grad_(True) for p in group["params"]]
        params.extend(tensors)
        built.append({**group, "params": tensors})
    optimizer = module.AdamW(built, **options)
    after = []
    for step, step_grads in enumerate(grads):
        if state_dict_roundtrip and step == len(grads) // 2:
            saved = optimizer.state_dict()
            optimizer = module.AdamW(built, **options)      # a fresh optimizer, then its saved state
            optimizer.load_state_dict(saved)
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        optimizer.step()
        after.append([p.detach().clone() for p in params])
    return {"after": after, "is_optimizer": isinstance(optimizer, torch.optim.Optimizer),
            "n_state": len(optimizer.state_dict().get("state", {}))}


@probe
def clip_run(module, grads, max_norm, as_one_tensor=False):
    """Parameters with the given gradients (None: no gradient); call clip_grad_norm; report."""
    params = []
    for g in grads:
        p = torch.zeros(g.shape if g is not None else (2,), requires_grad=True)
        p.grad = None if g is None else g.clone()
        params.append(p)
    target = params[0] if as_one_tensor else iter(params)  # a generator, as model.parameters() is
    norm = module.clip_grad_norm(target, max_norm)
    return {"norm": norm if isinstance(norm, (torch.Tensor, float, int)) else None,
            "norm_type": type(norm).__name__,
            "grads": [None if p.grad is None else p.grad.clone() for p in params]}


@probe
def train_step_run(module, weight, batches, lrs, grad_clip, optimizer_kind="sgd"):
    """A BigramLM with `weight`, an optimizer made here (SGD with lr 0.5, or PyTorch's AdamW);
    call the learner's train_step once per batch with the given lr. cross_entropy and
    clip_grad_norm are PyTorch's meanwhile (they have their own checks)."""
    model = module.BigramLM(weight.shape[0])
    with torch.no_grad():
        model.table.weight.copy_(weight)
    if optimizer_kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.5)
    losses, weights, lr_seen, loss_info = [], [], [], []
    with _swapped(module, cross_entropy=_torch_cross_entropy, clip_grad_norm=_torch_clip):
        for (x, y), lr in zip(batches, lrs):
            loss = module.train_step(model, optimizer, x, y, lr=lr, grad_clip=grad_clip)
            loss_info.append({"type": type(loss).__name__,
                              "requires_grad": bool(getattr(loss, "requires_grad", False))})
            losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor)
                          else float(loss) if isinstance(loss, (float, int)) else None)
            weights.append(model.table.weight.detach().clone())
            lr_seen.append([g["lr"] for g in optimizer.param_groups])
    return {"losses": losses, "weights": weights, "lr_seen": lr_seen, "loss_info": loss_info}


@probe
def evaluate_run(module, weight, dropout, batches, data, training_before, iters):
    """A BigramLM (with dropout) evaluated by the learner's evaluate. Its get_batch is replaced
    by one that hands out `batches` in order (and records its arguments), and cross_entropy by
    PyTorch's; report the result, the model's mode afterwards and the calls."""
    model = module.BigramLM(weight.shape[0], dropout=dropout)
    with torch.no_grad():
        model.table.weight.copy_(weight)
    model.train(training_before)
    calls = []
    supply = iter(batches)

    def replay_batches(data_, batch_size, block_size, *, generator=None, device=None):
        calls.append([batch_size, block_size, generator is not None])
        x, y = next(supply)
        return x.to(device), y.to(device)

    torch.manual_seed(0)
    with _swapped(module, get_batch=replay_batches, cross_entropy=_torch_cross_entropy):
        result = module.evaluate(model, data, batch_size=batches[0][0].shape[0], block_size=batches[0][0].shape[1],
                                 iters=iters, generator=torch.Generator().manual_seed(0))
    return {"result": result if isinstance(result, (float, int, torch.Tensor)) else None,
            "type": type(result).__name__, "training_after": model.training, "calls": calls,
            "grads": model.table.weight.grad is not None}


@probe
def perplexity_run(module, weight, dropout, tokens, block_size, batch_size, training_before):
    """A BigramLM scored by the learner's perplexity (cross_entropy is PyTorch's meanwhile),
    recording the shape of every batch the model sees."""
    model = module.BigramLM(weight.shape[0], dropout=dropout)
    with torch.no_grad():
        model.table.weight.copy_(weight)
    model.train(training_before)
    shapes = []
    model.register_forward_hook(lambda m, args, out: shapes.append(list(args[0].shape)))
    torch.manual_seed(0)
    with _swapped(module, cross_entropy=_torch_cross_entropy):
        result = module.perplexity(model, tokens, block_size=block_size, batch_size=batch_size)
    return {"result": result if isinstance(result, (float, int, torch.Tensor)) else None,
            "type": type(result).__name__, "training_after": model.training, "shapes": shapes}


@probe
def resume_run(module, vocab, steps, stop_at, dropout, optimizer_kind, with_generator, seed):
    """Train a BigramLM (with dropout, so PyTorch's global random state matters) for `steps`
    steps on random batches, twice: straight through, and stopping at `stop_at` with the
    learner's save_checkpoint, then continuing in a FRESH model, optimizer and generator after the
    learner's load_checkpoint (with the global random state disturbed in between). Report both
    results. The steps use PyTorch's own loss and optimizer: only saving and loading are tested."""

    def make(init_seed):
        torch.manual_seed(init_seed)
        model = module.BigramLM(vocab, dropout=dropout)
        if optimizer_kind == "adamw":
            optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        return model, optimizer

    def one_step(model, optimizer, generator):
        x = torch.randint(vocab, (3, 5), generator=generator)
        y = torch.randint(vocab, (3, 5), generator=generator)
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model, optimizer = make(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 2)
    for _ in range(steps):
        one_step(model, optimizer, generator)
    straight = model.table.weight.detach().clone()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run" / "checkpoint.pt"
        model, optimizer = make(seed)
        generator = torch.Generator().manual_seed(seed + 1)
        torch.manual_seed(seed + 2)
        for _ in range(stop_at):
            one_step(model, optimizer, generator)
        module.save_checkpoint(path, model, optimizer, step=stop_at, generator=generator if with_generator else None,
                               extra={"history": [1.5, 2.5], "note": "hello"})
        saved_weight = model.table.weight.detach().clone()
        exists = path.exists()
        # A fresh start, as after a restart: other weights, empty optimizer, other generator and
        # global random state. Loading must bring everything back.
        model, optimizer = make(seed + 100)
        generator = torch.Generator().manual_seed(seed + 200)
        torch.manual_seed(seed + 300)
        info = module.load_checkpoint(path, model, optimizer, generator=generator if with_generator else None)
        loaded_weight = model.table.weight.detach().clone()
        if not with_generator:   # the caller restores the generator's state its own way
            generator = torch.Generator().manual_seed(seed + 1)
            for _ in range(stop_at):
                torch.randint(vocab, (3, 5), generator=generator)
                torch.randint(vocab, (3, 5), generator=generator)
        for _ in range(steps - stop_at):
            one_step(model, optimizer, generator)
        resumed = model.table.weight.detach().clone()
        # Weights only: load into a model without an optimizer.
        other, _ = make(seed + 7)
        weights_only_info = module.load_checkpoint(path, other)
        weights_only = other.table.weight.detach().clone()
    plain = isinstance(info, dict)
    return {"straight": straight, "resumed": resumed, "saved_weight": saved_weight, "loaded_weight": loaded_weight,
            "weights_only": weights_only, "file_written": exists, "info_type": type(info).__name__,
            "step": info.get("step") if plain else None, "extra": info.get("extra") if plain else None,
            "weights_only_type": type(weights_only_info).__name__}


# ---------------------------------------------------------------------------------------------
# §1 cross_entropy
# ---------------------------------------------------------------------------------------------

def _expected_ce(logits, targets, ignore_index=-100):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1),
                           ignore_index=ignore_index)


@public_check("training.cross_entropy")
def check_cross_entropy(impl) -> None:
    """cross_entropy equals F.cross_entropy (value and gradient), with ignore_index, (B, T, V) logits and huge logits."""
    # A hand example: logits [0, 0, ln 2] -> softmax [1/4, 1/4, 1/2]; target 2 -> loss -ln(1/2).
    got = impl.cross_entropy(torch.tensor([[0.0, 0.0, math.log(2.0)]]), torch.tensor([2]))
    expect(isinstance(got, torch.Tensor), f"cross_entropy(...) returned a {type(got).__name__}, expected a "
           "0-dim torch.Tensor (keep it a tensor so that .backward() works)")
    expect_equal(tuple(got.shape), (), "cross_entropy(logits (1, 3), targets (1,)).shape (the mean is a 0-dim tensor)")
    expect_close(got, torch.tensor(math.log(2.0)), "cross_entropy([[0, 0, ln 2]], [2]) (softmax is [1/4, 1/4, 1/2], "
                 "so the loss is -ln(1/2) = ln 2)", atol=1e-6)

    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
    r = cross_entropy_with_grad(impl, logits, targets, {})
    what = "cross_entropy(logits (6, 5), targets (6,))"
    expect(r["is_tensor"], f"{what} returned a {r['type']}, expected a torch.Tensor")
    expected = _expected_ce(logits, targets)
    got = r["loss"].double()
    if abs(float(got) + float(expected)) < 1e-5 and abs(float(expected)) > 1e-3:
        raise CheckFailed(f"{what} returned {float(got):.5f}, expected {float(expected):.5f}: the sign is flipped. "
                          "The loss is MINUS the mean log-probability of the targets (it is positive)")
    if abs(float(got) - float(expected) * 6) < 1e-4:
        raise CheckFailed(f"{what} returned {float(got):.5f}, expected {float(expected):.5f}: that is the SUM over "
                          "the 6 positions; return the mean")
    expect_close(got, expected, f"{what}, compared with F.cross_entropy", atol=1e-5)
    expect(r["requires_grad"], f"{what} does not require grad: compute it with torch operations on `logits` "
           "(no .item(), .detach(), numpy or torch.no_grad()), or the model can never learn from it")
    expect(r.get("grad") is not None, f"after {what}.backward(), logits.grad is None: the loss must be computed "
           "from `logits` itself")
    torch_logits = logits.clone().requires_grad_(True)
    F.cross_entropy(torch_logits, targets).backward()
    expect_close(r["grad"], torch_logits.grad, f"the gradient of {what} with respect to the logits (softmax minus "
                 "one-hot, divided by the number of positions)", atol=1e-6)

    # (batch, seq, vocab), the course's layout: the vocabulary is the LAST dim.
    logits3, targets3 = torch.randn(2, 3, 7), torch.tensor([[1, 6, 0], [3, 3, 2]])
    got = impl.cross_entropy(logits3, targets3)
    what = "cross_entropy(logits (2, 3, 7), targets (2, 3))"
    expect(isinstance(got, torch.Tensor) and got.dim() == 0,
           f"{what} must return a 0-dim tensor (the mean over all 6 positions), got "
           f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    expect_close(got.double(), _expected_ce(logits3, targets3), f"{what}: the vocabulary is the last dim; the mean runs "
                 "over every (batch, position)", atol=1e-5)

    # ignore_index: those positions count neither in the sum nor in the number averaged over.
    targets_ignored = torch.tensor([0, -100, 2, -100, 1, 3])
    got = impl.cross_entropy(logits, targets_ignored)
    what = "cross_entropy(logits (6, 5), targets [0, -100, 2, -100, 1, 3])"
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a torch.Tensor")
    expected = _expected_ce(logits, targets_ignored)
    kept_sum_over_all = expected * 4 / 6
    if abs(float(got) - float(kept_sum_over_all)) < 1e-5:
        raise CheckFailed(f"{what} returned {float(got):.5f}, expected {float(expected):.5f}: you divided by all 6 "
                          "positions; divide by the 4 that are not ignored")
    expect_close(got.double(), expected, f"{what} (the two -100 positions do not count: the mean is over the other 4)",
                 atol=1e-5)
    got = impl.cross_entropy(logits, targets, ignore_index=2)
    expect_close(got.double(), _expected_ce(logits, targets, 2), "cross_entropy(logits, targets [0, 4, 2, 2, 1, 3], "
                 "ignore_index=2) (use the ignore_index argument, not a hard-coded -100)", atol=1e-5)

    # Large logits: exp(1000) overflows float32, logsumexp does not.
    big = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0]])
    got = impl.cross_entropy(big, torch.tensor([0, 2]))
    what = "cross_entropy([[1000, 0, -1000], [0, 1000, 999]], [0, 2])"
    expect(isinstance(got, torch.Tensor) and bool(torch.isfinite(got).all()),
           f"{what} returned {got if not isinstance(got, torch.Tensor) else float(got)}: exp(1000) overflows. Use "
           "torch.logsumexp (it subtracts the maximum first), or subtract each row's max before exponentiating")
    expect_close(got.double(), _expected_ce(big, torch.tensor([0, 2])), what, atol=1e-4)

    expect_raises(lambda: impl.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2])), ValueError,
                  "cross_entropy(logits (4, 3), targets (3,)) (shapes that do not line up)",
                  "Keep the shape check at the top of the function.")


# ---------------------------------------------------------------------------------------------
# §2 get_batch
# ---------------------------------------------------------------------------------------------

# get_batch(torch.arange(1000, 1100), 4, 8, generator=torch.Generator().manual_seed(0)): the starts
# (x[:, 0] - 1000), computed once with the reference; then a second call with the same generator.
BATCH_STARTS_SEED0 = [88, 27, 73, 56]
BATCH_STARTS_SEED0_SECOND_CALL = [59, 71, 91, 91]


def _starts(x: torch.Tensor) -> list[int]:
    return [int(v) - 1000 for v in x[:, 0]]


def _batches(impl, data, batch_size, block_size, seed, what, calls=1, device=None) -> list[dict]:
    r = get_batch_run(impl, data, batch_size, block_size, seed, calls, device)
    if "error" in r:
        raise CheckFailed(f"{what} {r['error']}; expected a pair (x, y) of tensors")
    return r["batches"]


@public_check("training.get_batch")
def check_get_batch(impl) -> None:
    """get_batch returns int64 windows x and targets y = x shifted by one, drawn reproducibly from the generator, any start possible."""
    data = torch.arange(1000, 1100)                    # token i has the id 1000 + i: windows are readable
    what = "get_batch(torch.arange(1000, 1100), 4, 8, generator=torch.Generator().manual_seed(0))"
    first, second = _batches(impl, data, 4, 8, 0, what, calls=2)
    x, y = first["x"], first["y"]
    for name, t in (("x", x), ("y", y)):
        expect_equal(tuple(t.shape), (4, 8), f"{what}: {name}.shape")
        expect(t.dtype == torch.int64, f"{what}: {name} has dtype {t.dtype}; return int64 (.long()): embeddings and "
               "the loss want int64 ids")
    expect(bool((x[:, 1:] - x[:, :-1] == 1).all()), f"{what}: each row of x must be a window of consecutive tokens "
           f"data[s : s + block_size]; got rows starting {x[:, :3].tolist()}")
    if torch.equal(x, y):
        raise CheckFailed(f"{what}: y equals x. The target at each position is the NEXT token: "
                          "y = data[s + 1 : s + block_size + 1]")
    expect(torch.equal(y, x + 1), f"{what}: y must be x moved one token to the right (y[b, t] is the token after "
           f"x[b, t]); got x[0] = {x[0].tolist()}, y[0] = {y[0].tolist()}")
    expect_equal(_starts(x), BATCH_STARTS_SEED0, f"{what}: the window starts x[:, 0] - 1000 (draw them with ONE call "
                 "torch.randint(len(data) - block_size, (batch_size,), generator=generator))")
    again = _batches(impl, data, 4, 8, 0, what)[0]
    expect(torch.equal(again["x"], x), f"{what}, called twice with freshly seeded generators, gave different batches: "
           "draw the starts from `generator` (pass generator=generator to torch.randint)")
    expect_equal(_starts(second["x"]), BATCH_STARTS_SEED0_SECOND_CALL, f"{what}, then a second call with the SAME "
                 "generator: the starts (the generator moves on, so the next batch is a new draw)")

    # Every window is possible, including the very last one (which still has its target).
    short = torch.arange(1000, 1010)                     # 10 tokens, block 8: starts 0 or 1 only
    seen = set()
    for seed in range(12):
        batch = _batches(impl, short, 3, 8, seed, "get_batch(torch.arange(1000, 1010), 3, 8, generator=...)")[0]
        expect(bool((batch["y"][:, -1] <= 1009).all()), "get_batch(10 tokens, 3, 8): a target beyond the data; the "
               "last start is len(data) - block_size - 1")
        seen.update(_starts(batch["x"]))
    expect_equal(sorted(seen), [0, 1], "the starts drawn by get_batch(torch.arange(1000, 1010), 3, 8) over 12 seeds "
                 "(with 10 tokens and block 8, the windows starting at 0 and at 1 are both possible, and no other)")
    exact = _batches(impl, torch.arange(1000, 1009), 2, 8, 3, "get_batch(9 tokens, 2, 8)")[0]
    expect_equal(exact["x"][0].tolist(), list(range(1000, 1008)), "get_batch(9 tokens, 2, 8): x[0] (only one window "
                 "fits)")

    # Any integer dtype in, int64 out; and on the requested device.
    small = _batches(impl, torch.arange(50, dtype=torch.int32), 2, 5, 1, "get_batch(int32 data, 2, 5)")[0]
    expect(small["x"].dtype == torch.int64 and small["y"].dtype == torch.int64,
           f"get_batch(int32 data, ...) returned {small['x'].dtype} / {small['y'].dtype}: convert to int64 (.long())")
    device = get_device().type
    on = _batches(impl, torch.arange(50), 2, 5, 1, f"get_batch(..., device={device!r})", device=device)[0]
    expect(on["devices"] == [device, device], f"get_batch(..., device={device!r}) returned x on {on['devices'][0]}, "
           f"y on {on['devices'][1]}: move both with .to(device)")
    expect_raises(lambda: impl.get_batch(torch.arange(8), 2, 8), ValueError,
                  "get_batch(8 tokens, 2, 8) (no window of 8 has a target)", "Keep the length check at the top.")


# ---------------------------------------------------------------------------------------------
# §3 AdamW
# ---------------------------------------------------------------------------------------------

def _torch_adamw_run(groups, grads, options, lrs=None):
    """The same run as the probe `adamw_run`, here in the judge, with torch.optim.AdamW."""
    params, built = [], []
    for group in groups:
        tensors = [p.detach().clone().requires_grad_(True) for p in group["params"]]
        params.extend(tensors)
        built.append({**group, "params": tensors})
    optimizer = torch.optim.AdamW(built, foreach=False, **options)
    after = []
    for step, step_grads in enumerate(grads):
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        optimizer.step()
        after.append([p.detach().clone() for p in params])
    return after


def _compare_adamw(got: dict, expected: list, what: str, advice: str = "") -> None:
    for step, (got_params, expected_params) in enumerate(zip(got["after"], expected), start=1):
        for i, (g, e) in enumerate(zip(got_params, expected_params)):
            try:
                expect_close(g, e, f"{what}: parameter {i} after step {step}, compared with torch.optim.AdamW",
                             atol=1e-6, rtol=1e-5)
            except CheckFailed as err:
                raise CheckFailed(f"{err}. {advice}" if advice else str(err)) from None


@public_check("training.adamw", timeout=60)
def check_adamw(impl) -> None:
    """AdamW gives the same parameters as torch.optim.AdamW step after step: decoupled decay, bias correction, groups, state_dict."""
    torch.manual_seed(0)
    w1, w2 = torch.randn(3, 4), torch.randn(4)
    grads = [[torch.randn(3, 4), torch.randn(4)] for _ in range(6)]
    options = dict(lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    what = "AdamW([w1 (3, 4), w2 (4,)], lr=0.1, betas=(0.9, 0.99), weight_decay=0.1), 6 steps with random gradients"
    got = adamw_run(impl, [{"params": [w1, w2]}], grads, options)
    expect(got["is_optimizer"], "AdamW must subclass torch.optim.Optimizer (keep the class statement as given)")
    expected = _torch_adamw_run([{"params": [w1, w2]}], grads, options)
    _compare_adamw(got, expected, what, "Follow the update rule of the docstring: decay, m, v, then the step "
                   "with the bias-corrected m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t), t counting "
                   "from 1")

    # Zero gradients: Adam's step is 0/(0 + eps) = 0, so only the decoupled decay acts.
    zero = [[torch.zeros(3, 4), torch.zeros(4)] for _ in range(2)]
    got = adamw_run(impl, [{"params": [w1, w2]}], zero, options)
    decayed = w1 * (1 - 0.1 * 0.1)
    expect_close(got["after"][0][0], decayed, "AdamW(lr=0.1, weight_decay=0.1): parameter 0 after one step with a "
                 "ZERO gradient (only the decay acts: p * (1 - lr * weight_decay); if you added weight_decay * p to "
                 "the gradient instead, Adam's normalisation turns it into a full-size step: that is Adam with L2, "
                 "not AdamW)", atol=1e-6)

    # Parameter groups with their own settings; a parameter without a gradient is left alone.
    w3 = torch.randn(2, 2)
    groups = [{"params": [w1], "weight_decay": 0.0}, {"params": [w2, w3], "lr": 0.05}]
    grads_groups = [[torch.randn(3, 4), torch.randn(4), None] for _ in range(4)]
    options_groups = dict(lr=0.1, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.3)
    what = ("AdamW([{params: [w1], weight_decay: 0}, {params: [w2, w3], lr: 0.05}], lr=0.1, betas=(0.8, 0.95), "
            "weight_decay=0.3), w3 without a gradient")
    got = adamw_run(impl, groups, grads_groups, options_groups)
    expected = _torch_adamw_run(groups, grads_groups, options_groups)
    expect(torch.equal(got["after"][-1][2], w3), f"{what}: w3 changed although its .grad is None: skip such "
           "parameters (no decay either)")
    _compare_adamw(got, expected, what, "Read lr, betas, eps and weight_decay from each param_group, not from the "
                   "defaults")

    # A large eps shows where it goes: added to sqrt(v_hat), outside the square root.
    options_eps = dict(lr=0.01, betas=(0.9, 0.999), eps=0.1, weight_decay=0.0)
    small_grads = [[0.05 * torch.randn(3, 4), 0.05 * torch.randn(4)] for _ in range(3)]
    got = adamw_run(impl, [{"params": [w1, w2]}], small_grads, options_eps)
    _compare_adamw(got, _torch_adamw_run([{"params": [w1, w2]}], small_grads, options_eps),
                   "AdamW(lr=0.01, eps=0.1, weight_decay=0), gradients of size about 0.05",
                   "eps is added to sqrt(v_hat), outside the square root")

    # The state lives in self.state, so state_dict() saves it and a reloaded optimizer continues.
    got = adamw_run(impl, [{"params": [w1, w2]}], grads, options, True)
    expect(got["n_state"] == 2, f"after stepping, AdamW.state_dict()['state'] has {got['n_state']} entries, expected 2 "
           "(one per parameter): keep step, exp_avg and exp_avg_sq in self.state[p] so that checkpoints save them")
    _compare_adamw(got, _torch_adamw_run([{"params": [w1, w2]}], grads, options),
                   "AdamW(lr=0.1, betas=(0.9, 0.99), weight_decay=0.1), saved with state_dict() after 3 of 6 steps "
                   "and loaded into a new AdamW",
                   "Keep all of the optimizer's memory (m, v, the step count) in self.state[p]")


# ---------------------------------------------------------------------------------------------
# §4 lr_schedule
# ---------------------------------------------------------------------------------------------

# lr_schedule(step, max_lr=1.0, warmup_steps=4, total_steps=12, min_lr=0.1) for step = 0 .. 14,
# computed once with the reference (rounded to 10 digits).
SCHEDULE = [0.25, 0.5, 0.75, 1.0, 1.0, 0.9657457896, 0.8681980515, 0.7222075446, 0.55, 0.3777924554,
            0.2318019485, 0.1342542104, 0.1, 0.1, 0.1]
# lr_schedule(step, max_lr=6e-4, warmup_steps=0, total_steps=5) for step = 0 .. 5 (no warmup, min_lr 0)
SCHEDULE_NO_WARMUP = [6e-4, 0.000542705098, 0.000392705098, 0.000207294902, 5.7294902e-05, 0.0]


@public_check("training.lr_schedule")
def check_lr_schedule(impl) -> None:
    """lr_schedule warms up linearly from the first step, follows a cosine from max_lr to min_lr, then stays at min_lr."""
    got = [impl.lr_schedule(s, max_lr=1.0, warmup_steps=4, total_steps=12, min_lr=0.1) for s in range(15)]
    what = "[lr_schedule(step, max_lr=1.0, warmup_steps=4, total_steps=12, min_lr=0.1) for step in range(15)]"
    expect(all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in got),
           f"{what} must be Python floats, got {[type(v).__name__ for v in got][:3]}...")
    if abs(got[0]) < 1e-12:
        raise CheckFailed(f"{what} starts with {got[:4]}: the learning rate at step 0 is 0, so the first step is "
                          "wasted. Use max_lr * (step + 1) / warmup_steps (step 3 then reaches max_lr)")
    for s, (g, e) in enumerate(zip(got, SCHEDULE)):
        if abs(g - e) > 1e-8:
            phase = "warmup" if s < 4 else ("cosine decay" if s < 12 else "after total_steps (min_lr)")
            hint = {"warmup": "During warmup: max_lr * (step + 1) / warmup_steps.",
                    "cosine decay": "Decay: min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * progress)) with "
                                    "progress = (step - warmup_steps) / (total_steps - warmup_steps).",
                    "after total_steps (min_lr)": "From total_steps on, return min_lr."}[phase]
            raise CheckFailed(f"{what}: step {s} ({phase}) gave {g:.10g}, expected {e:.10g}. {hint} "
                              f"Expected the whole list {SCHEDULE}")
    got = [impl.lr_schedule(s, max_lr=6e-4, warmup_steps=0, total_steps=5) for s in range(6)]
    for s, (g, e) in enumerate(zip(got, SCHEDULE_NO_WARMUP)):
        expect(abs(g - e) < 1e-12, f"lr_schedule({s}, max_lr=6e-4, warmup_steps=0, total_steps=5) gave {g:.6g}, "
               f"expected {e:.6g} (no warmup: the cosine starts at step 0; min_lr defaults to 0)")


# ---------------------------------------------------------------------------------------------
# §5 clip_grad_norm
# ---------------------------------------------------------------------------------------------

def _torch_clipped(grads, max_norm):
    params = []
    for g in grads:
        p = torch.zeros(g.shape if g is not None else (2,), requires_grad=True)
        p.grad = None if g is None else g.clone()
        params.append(p)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return norm, [None if p.grad is None else p.grad for p in params]


@public_check("training.clip_grad_norm")
def check_clip_grad_norm(impl) -> None:
    """clip_grad_norm scales all gradients by one factor to the max global norm (as clip_grad_norm_) and returns the norm before."""
    torch.manual_seed(0)
    grads = [torch.tensor([[3.0, 0.0], [0.0, 0.0]]), torch.tensor([4.0]), None, torch.tensor([0.0, 12.0])]
    what = "clip_grad_norm(params with gradients [[3, 0], [0, 0]], [4], None, [0, 12], max_norm=6.5)"
    got = clip_run(impl, grads, 6.5)
    expected_norm, expected_grads = _torch_clipped(grads, 6.5)
    expect(got["norm"] is not None, f"{what} returned a {got['norm_type']}; return the total norm (a 0-dim tensor)")
    norm = float(got["norm"])
    if abs(norm - 6.5) < 1e-4:
        raise CheckFailed(f"{what} returned {norm:.4g}: that is the norm AFTER clipping; return the norm measured "
                          "before (13 here: sqrt(3² + 4² + 12²)), which tells how large the gradients really were")
    if abs(norm - 19.0) < 1e-4:
        raise CheckFailed(f"{what} returned 19: that adds up the norms of the parameters (3 + 4 + 12). The global "
                          "norm is the norm of ALL entries together: sqrt(3² + 4² + 12²) = 13")
    expect(abs(norm - 13.0) < 1e-4, f"{what} returned {norm:.6g}, expected 13 = sqrt(3² + 4² + 12²) (every gradient "
           "entry of every parameter, as one vector)")
    expect(got["grads"][2] is None, f"{what}: a parameter whose .grad is None must be skipped (and keep None)")
    per_parameter = [None if g is None else g * torch.clamp(6.5 / (g.norm() + 1e-6), max=1.0) for g in grads]
    if all(a is None or torch.allclose(a, b, atol=1e-5) for a, b in zip(got["grads"], per_parameter)) and \
            not torch.allclose(got["grads"][3], expected_grads[3], atol=1e-5):
        raise CheckFailed(f"{what}: each gradient was clipped on its own. Use ONE factor max_norm / (total_norm + "
                          "eps) for all of them, so the update keeps its direction")
    for i in (0, 1, 3):
        expect_close(got["grads"][i], expected_grads[i], f"{what}: gradient {i} after clipping (each multiplied by "
                     "6.5 / (13 + 1e-6))", atol=1e-5)

    small = [torch.tensor([0.3, -0.4]), torch.tensor([[0.0]])]
    what = "clip_grad_norm(params with gradients [0.3, -0.4], [[0]], max_norm=1.0) (norm 0.5, below the maximum)"
    got = clip_run(impl, small, 1.0)
    expect(got["norm"] is not None and abs(float(got["norm"]) - 0.5) < 1e-6,
           f"{what} returned {got['norm']}, expected 0.5")
    expect_close(got["grads"][0], small[0], f"{what}: the gradient must be left unchanged (only scale DOWN: the "
                 "factor is capped at 1)", atol=1e-6)

    torch.manual_seed(1)
    random_grads = [torch.randn(5, 3) * 4, torch.randn(7) * 4]
    got = clip_run(impl, random_grads, 2.0)
    expected_norm, expected_grads = _torch_clipped(random_grads, 2.0)
    expect(got["norm"] is not None, "clip_grad_norm(random gradients, 2.0) returned no norm")
    expect_close(torch.as_tensor(float(got["norm"])), expected_norm, "clip_grad_norm(random gradients, 2.0): the "
                 "norm returned, compared with torch.nn.utils.clip_grad_norm_", atol=1e-4)
    for i, (g, e) in enumerate(zip(got["grads"], expected_grads)):
        expect_close(g, e, f"clip_grad_norm(random gradients, 2.0): gradient {i}, compared with clip_grad_norm_",
                     atol=1e-5)


# ---------------------------------------------------------------------------------------------
# §6 train_step and evaluate
# ---------------------------------------------------------------------------------------------

# A BigramLM over 4 tokens with table TABLE_4, and two batches (x, y). Expected values computed
# once with the reference train_step (SGD, the probe's optimizer) and pasted here.
TABLE_4 = [[0.5, -0.2, 0.1, 0.0], [0.3, 0.3, -0.4, 0.2], [-0.1, 0.6, 0.0, -0.3], [0.2, 0.1, 0.1, -0.5]]
BATCH_A = ([[0, 1, 2], [3, 3, 1]], [[1, 2, 3], [3, 1, 0]])
BATCH_B = ([[2, 0, 0], [1, 3, 2]], [[0, 0, 3], [3, 2, 2]])
# train_step(model, SGD(lr=0.5), *BATCH_A, lr=0.1, grad_clip=None): the loss returned, the table after
STEP_A_LOSS = 1.6428335905
STEP_A_TABLE = [[0.4939906, -0.1863175, 0.0959718, -0.0036449], [0.3068669, 0.2902002, -0.3881998, 0.1911328],
                [-0.1033754, 0.5932028, -0.0037304, -0.2860969], [0.1899181, 0.1075442, 0.0908775, -0.4883398]]
# then train_step on BATCH_B with lr=0.2, grad_clip=None: the loss, the table after
STEP_B_LOSS = 1.3797882795
STEP_B_TABLE = [[0.5033954, -0.1984364, 0.0799002, 0.0151407], [0.2969851, 0.2804818, -0.3931312, 0.2156643],
                [-0.0835247, 0.5661449, 0.0147077, -0.2973279], [0.1799205, 0.0983371, 0.1151560, -0.4934136]]
# train_step(model, SGD(lr=0.5), *BATCH_A, lr=0.1, grad_clip=0.05) from TABLE_4: the table after
STEP_A_CLIPPED_TABLE = [[0.4991523, -0.1980700, 0.0994318, -0.0005141], [0.3009686, 0.2986177, -0.3983355, 0.1987492],
                        [-0.1004761, 0.5990412, -0.0005262, -0.2980389], [0.1985779, 0.1010642, 0.0987132, -0.4983552]]


def _expect_table(got: torch.Tensor, expected: list, what: str, advice: str) -> None:
    try:
        expect_close(got, torch.tensor(expected), what, atol=2e-6)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {advice}") from None


@public_check("training.train_step", timeout=60)
def check_train_step(impl) -> None:
    """train_step sets the lr, computes the loss, zeroes old gradients, backpropagates, clips, steps, returns the loss before the update."""
    table = torch.tensor(TABLE_4)
    batch_a = (torch.tensor(BATCH_A[0]), torch.tensor(BATCH_A[1]))
    batch_b = (torch.tensor(BATCH_B[0]), torch.tensor(BATCH_B[1]))
    what = ("train_step(BigramLM(4) with a known table, SGD(params, lr=0.5), x, y, lr=0.1, grad_clip=None), then "
            "again on another batch with lr=0.2")
    r = train_step_run(impl, table, [batch_a, batch_b], [0.1, 0.2], None)
    info = r["loss_info"][0]
    expect(r["losses"][0] is not None, f"{what}: returned a {info['type']}, expected the loss (a 0-dim tensor)")
    expect(not info["requires_grad"], f"{what}: the loss returned still requires grad (it keeps the whole graph "
           "alive): return loss.detach()")
    expect_equal([round(v, 6) for v in r["lr_seen"][0]], [0.1], f"{what}: the optimizer's param_groups lr after "
                 "the first step (set group['lr'] = lr for every group before stepping)")
    expect(abs(r["losses"][0] - STEP_A_LOSS) < 1e-5, f"{what}: the first loss returned is {r['losses'][0]:.6f}, "
           f"expected {STEP_A_LOSS:.6f}, the loss of the batch BEFORE the update (compute the loss once, step, and "
           "return that value)")
    _expect_table(r["weights"][0], STEP_A_TABLE, f"{what}: the table after the first step",
                  "One SGD step with lr=0.1 on the gradient of the cross-entropy (set the lr before stepping).")
    expect(abs(r["losses"][1] - STEP_B_LOSS) < 1e-5, f"{what}: the second loss is {r['losses'][1]:.6f}, expected "
           f"{STEP_B_LOSS:.6f}")
    _expect_table(r["weights"][1], STEP_B_TABLE, f"{what}: the table after the second step",
                  "If the first step was right but not the second: clear the gradients before backward "
                  "(optimizer.zero_grad(set_to_none=True)), or they add up with the previous batch's.")
    r = train_step_run(impl, table, [batch_a], [0.1], 0.05)
    _expect_table(r["weights"][0], STEP_A_CLIPPED_TABLE, "train_step(same model and batch, lr=0.1, grad_clip=0.05): "
                  "the table after the step", "Clip the gradients (clip_grad_norm(model.parameters(), grad_clip)) "
                  "after backward and before optimizer.step().")
    r = train_step_run(impl, table, [batch_a, batch_b, batch_a], [1e-2, 2e-2, 3e-2], 1.0, "adamw")
    expect_equal([round(v[0], 8) for v in r["lr_seen"]], [1e-2, 2e-2, 3e-2], "the lr of PyTorch's AdamW after three "
                 "train_step calls with lr=0.01, 0.02, 0.03")


# evaluate on a BigramLM(4, dropout=0.5) with TABLE_4, three batches handed out in this order
# (BATCH_A, BATCH_B, BATCH_A): the mean of the three losses in eval mode, computed once with
# the reference.
EVALUATE_MEAN = 1.5537759066


@public_check("training.evaluate")
def check_evaluate(impl) -> None:
    """evaluate averages the loss over iters batches in eval mode without gradients, and restores the model's mode."""
    table = torch.tensor(TABLE_4)
    batches = [(torch.tensor(BATCH_A[0]), torch.tensor(BATCH_A[1])), (torch.tensor(BATCH_B[0]), torch.tensor(BATCH_B[1])),
               (torch.tensor(BATCH_A[0]), torch.tensor(BATCH_A[1]))]
    data = torch.arange(4).repeat(5)
    what = "evaluate(BigramLM(4, dropout=0.5) with a known table, data, batch_size=2, block_size=3, iters=3)"
    r = evaluate_run(impl, table, 0.5, batches, data, True, 3)
    expect(r["result"] is not None, f"{what} returned a {r['type']}, expected a float")
    expect(r["type"] == "float", f"{what} returned a {r['type']}; return a Python float (float(...))")
    expect_equal(len(r["calls"]), 3, f"{what}: the number of batches drawn with get_batch")
    expect(all(c[:2] == [2, 3] for c in r["calls"]), f"{what}: get_batch was called with (batch_size, block_size) = "
           f"{[tuple(c[:2]) for c in r['calls']]}, expected (2, 3) each time")
    expect(all(c[2] for c in r["calls"]), f"{what}: pass the generator on to get_batch (generator=generator), so "
           "that every evaluation can use the same batches")
    result = float(r["result"])
    expect(abs(result - EVALUATE_MEAN) < 1e-5, f"{what} returned {result:.6f}, expected {EVALUATE_MEAN:.6f}, the "
           "mean of the 3 batch losses with dropout OFF. Call model.eval() before measuring (dropout makes the "
           "result random otherwise) and average over the iters batches")
    expect(r["training_after"], f"{what}: the model was in training mode before and is in eval mode after; "
           "restore the mode it was in (model.train(was_training)), or training goes on without dropout")
    expect(not r["grads"], f"{what}: the model's parameters received gradients; evaluation must not backpropagate "
           "(use torch.no_grad())")
    r = evaluate_run(impl, table, 0.5, batches, data, False, 3)
    expect(not r["training_after"], f"{what}, with the model in eval mode before: it must stay in eval mode")


# ---------------------------------------------------------------------------------------------
# §7 save_checkpoint / load_checkpoint
# ---------------------------------------------------------------------------------------------

@public_check("training.checkpoint", timeout=60)
def check_checkpoint(impl) -> None:
    """save_checkpoint + load_checkpoint resume a run bit for bit: weights, optimizer state, generator, global random state, step, extra."""
    for optimizer_kind in ("adamw", "sgd"):
        what = (f"6 steps of a BigramLM with dropout ({'PyTorch AdamW' if optimizer_kind == 'adamw' else 'SGD with momentum'}) "
                "straight through, against 3 steps, save_checkpoint, load_checkpoint into a fresh model, optimizer "
                "and generator, and 3 more steps")
        r = resume_run(impl, 6, 6, 3, 0.2, optimizer_kind, True, 0)
        expect(r["file_written"], f"{what}: save_checkpoint wrote no file at the path given (create its folder, then "
               "write; atomic_save does both)")
        expect(torch.equal(r["loaded_weight"], r["saved_weight"]), f"{what}: right after load_checkpoint the weights "
               "differ from those saved: load model.state_dict() back with model.load_state_dict(...)")
        expect(r["info_type"] == "dict", f"{what}: load_checkpoint returned a {r['info_type']}, expected a dict "
               "{'step': ..., 'extra': ...}")
        expect_equal(r["step"], 3, f"{what}: load_checkpoint(...)['step']")
        expect_equal(r["extra"], {"history": [1.5, 2.5], "note": "hello"}, f"{what}: load_checkpoint(...)['extra']")
        if not torch.equal(r["resumed"], r["straight"]):
            diff = float((r["resumed"] - r["straight"]).abs().max())
            raise CheckFailed(
                f"{what}: the resumed run ends {diff:.3g} away from the straight one (they must be bit-identical). "
                "Save and restore everything that shapes the next steps: the optimizer's state_dict "
                f"({'m, v and step counts' if optimizer_kind == 'adamw' else 'the momentum buffers'}), the batch "
                "generator's state (generator.get_state() / set_state()), and PyTorch's global random state "
                "(capture_rng_state() / restore_rng_state(): dropout draws from it)")
        expect(torch.equal(r["weights_only"], r["saved_weight"]), f"{what}: load_checkpoint(path, model) without an "
               "optimizer must still load the weights")
    r = resume_run(impl, 5, 4, 2, 0.0, "adamw", False, 3)
    expect(torch.equal(r["resumed"], r["straight"]), "save_checkpoint(..., generator=None) and "
           "load_checkpoint(..., generator=None) (no generator to save) must still resume exactly")


# ---------------------------------------------------------------------------------------------
# §8 perplexity
# ---------------------------------------------------------------------------------------------

# perplexity(BigramLM(4, dropout=0.3) with TABLE_4, PERPLEXITY_TOKENS, block_size=5, batch_size=2),
# computed once with the reference: exp of the mean loss over the 22 predictions.
PERPLEXITY_TOKENS = [0, 1, 2, 3, 3, 1, 0, 0, 2, 1, 3, 2, 2, 0, 1, 1, 3, 0, 2, 3, 1, 0, 2]
PERPLEXITY_VALUE = 4.1918687147
# Known wrong answers, for targeted messages: the last (short) window left out; each window's
# mean averaged without weighting by its length.
PERPLEXITY_WITHOUT_LAST = 4.2386602723
PERPLEXITY_UNWEIGHTED = 4.0696010896


@public_check("training.perplexity")
def check_perplexity(impl) -> None:
    """perplexity is exp(mean loss) over every next-token prediction, in consecutive windows, in eval mode, mode restored."""
    table = torch.tensor(TABLE_4)
    tokens = torch.tensor(PERPLEXITY_TOKENS)
    what = "perplexity(BigramLM(4, dropout=0.3) with a known table, 23 tokens, block_size=5, batch_size=2)"
    r = perplexity_run(impl, table, 0.3, tokens, 5, 2, True)
    expect(r["result"] is not None, f"{what} returned a {r['type']}, expected a float")
    result = float(r["result"])
    shapes = r["shapes"]
    expect(shapes, f"{what} never called the model")
    expect(all(s[1] <= 5 for s in shapes), f"{what}: the model saw windows of {sorted({s[1] for s in shapes})} "
           "tokens; at most block_size")
    if abs(result - PERPLEXITY_WITHOUT_LAST) < 1e-4:
        raise CheckFailed(f"{what} returned {result:.6f}, expected {PERPLEXITY_VALUE:.6f}: the last, shorter window "
                          "(inputs tokens[20:22], targets tokens[21:23]) is missing. Every token after the first is "
                          "predicted exactly once")
    if abs(result - PERPLEXITY_UNWEIGHTED) < 1e-4:
        raise CheckFailed(f"{what} returned {result:.6f}, expected {PERPLEXITY_VALUE:.6f}: you averaged the batch "
                          "means, so the short last window counts as much as a full batch. Add up mean * number of "
                          "targets and divide by the total number of predictions (len(tokens) - 1)")
    expect(sum(s[0] * s[1] for s in shapes) == 22, f"{what}: the model was asked {sum(s[0] * s[1] for s in shapes)} "
           "predictions (batches of shapes " + str(shapes) + "); there are exactly 22 (len(tokens) - 1), each once: "
           "windows start at 0, 5, 10, ... and do not overlap")
    expect(abs(result - PERPLEXITY_VALUE) < 1e-4, f"{what} returned {result:.6f}, expected {PERPLEXITY_VALUE:.6f} = "
           "exp(mean loss over the 22 predictions), with dropout off (model.eval())")
    expect(r["training_after"], f"{what}: the model was in training mode before and not after: restore its mode")
    r = perplexity_run(impl, table, 0.0, tokens[:21], 5, 8, False)
    expect(not r["training_after"], "perplexity(model in eval mode, ...) left the model in training mode: restore "
           "the mode it was in")
