"""Training a language model: the loss, the batches, the optimizer, the loop.  Notebook 07.

The recipe in one paragraph
---------------------------
A language model is trained to predict each next token of its corpus. Cut random windows out of
the token stream (:func:`get_batch`); the model returns, at every position, scores (logits) for
every token of the vocabulary; the loss is the cross-entropy between those scores and the token
that really came next (:func:`cross_entropy`). Backpropagation gives a gradient for every
parameter; a gradient that is too large is scaled down (:func:`clip_grad_norm`), and AdamW
(:class:`AdamW`) moves each parameter with its own step size, with a learning rate that warms up
then decays along a cosine (:func:`lr_schedule`). One such update is :func:`train_step`; every
so often the loop measures the loss on text it never trains on (:func:`evaluate`), saves what it
needs to continue after an interruption (:func:`save_checkpoint`, :func:`load_checkpoint`), and
at the end the model is scored by its perplexity (:func:`perplexity`).

What learners implement (the marked regions; notebook 07, sections 1-8)
-----------------------------------------------------------------------
1. :func:`cross_entropy`                     the loss, from logits, with ``ignore_index``
2. :func:`get_batch`                         random windows of a token stream, and their targets
3. :class:`AdamW`                            Adam with decoupled weight decay (``step``)
4. :func:`lr_schedule`                       linear warmup, then cosine decay
5. :func:`clip_grad_norm`                    scale all gradients down to a maximum global norm
6. :func:`train_step`, :func:`evaluate`     one update; the loss on held-out text
7. :func:`save_checkpoint`, :func:`load_checkpoint`   stop and resume, bit for bit
8. :func:`perplexity`                        exp(mean loss) over a whole token stream

Provided (read them, do not rewrite them): :func:`train`, the loop that puts the pieces together,
fast (PyTorch's fused AdamW, bf16 autocast and TF32 on a GPU, optional ``torch.compile``, a CPU
thread count chosen by measuring: ``device.configure_threads``) and distributed (it runs unchanged
under ``torchrun --nproc_per_node N``); :class:`BigramLM`, the smallest language model;
:func:`encode_corpus`, :func:`sample_text` and :func:`grammar_validity` to prepare data and to
measure a model; :func:`flops_per_token` for the compute a run takes (about 6 * N * D).

Conventions
-----------
* Logits have the vocabulary as their LAST dimension: (batch, seq, vocab), as every model of the
  course returns them. (``F.cross_entropy`` wants it second; we flatten to (batch * seq, vocab).)
* Targets are int64 token ids; the id ``ignore_index`` (default -100, as in PyTorch) marks
  positions that do not count (padding, or a prompt in notebook 08).
* Randomness comes from a ``torch.Generator`` passed in, never from a global seed set somewhere
  else, so that a run can be repeated and resumed exactly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from course_lib.device import configure_threads  # noqa: F401  (re-exported: notebook 07 uses it)

__all__ = [
    # exercises
    "cross_entropy", "get_batch", "AdamW", "lr_schedule", "clip_grad_norm", "train_step", "evaluate",
    "save_checkpoint", "load_checkpoint", "perplexity",
    # provided
    "BigramLM", "TrainConfig", "TrainResult", "train", "make_optimizer", "configure_threads",
    "capture_rng_state", "restore_rng_state", "atomic_save", "encode_corpus", "sample_text",
    "grammar_validity", "flops_per_token", "LiveLossPlot", "distributed_info",
]


# ---------------------------------------------------------------------------------------------
# §1 Cross-entropy from logits
# ---------------------------------------------------------------------------------------------

def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100) -> torch.Tensor:
    """Mean negative log-likelihood of the targets under softmax(logits), like ``F.cross_entropy``.

    For one position with logits z (a vector over the vocabulary) and target token t::

        loss = -log softmax(z)[t] = logsumexp(z) - z[t]

    computed without ever forming exp(z) of large numbers (logsumexp subtracts the maximum).
    The result is the mean over the positions whose target is not ``ignore_index``; if every
    target is ignored, the mean of nothing is 0/0 = nan, as in PyTorch.

    Args:
        logits: shape (..., vocab), e.g. (batch, seq, vocab) or (n, vocab); any float dtype
            (float16/bfloat16 logits are computed in float32).
        targets: shape (...), the logits' shape without the last dim; integer ids in
            [0, vocab) or ``ignore_index``.
        ignore_index: a target value whose positions do not count.

    Returns:
        A 0-dim tensor (the mean loss), differentiable with respect to `logits`.

    Raises:
        ValueError: if the shapes do not line up or targets are not integers.
    """
    if logits.dim() < 1 or tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"logits of shape {tuple(logits.shape)} need targets of shape {tuple(logits.shape[:-1])} "
                         f"(the logits' shape without the vocabulary dim), got {tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must hold integer token ids, got dtype {targets.dtype}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # half precision loses too much in logsumexp
    ### BEGIN SOLUTION [07 §1] The mean of -log softmax(logits)[target] over the positions whose target is not ignore_index, computed with logsumexp so that large logits cannot overflow.
    vocab = logits.shape[-1]
    flat_logits = logits.reshape(-1, vocab)                              # (n, vocab)
    flat_targets = targets.reshape(-1)                                   # (n,)
    keep = flat_targets != ignore_index                                  # (n,) True where it counts
    # log softmax = z - logsumexp(z): logsumexp subtracts the row max before exp, so no overflow.
    log_probs = flat_logits - torch.logsumexp(flat_logits, dim=-1, keepdim=True)  # (n, vocab)
    safe_targets = torch.where(keep, flat_targets, torch.zeros_like(flat_targets))  # -100 is no index
    picked = log_probs.gather(1, safe_targets.unsqueeze(1)).squeeze(1)   # (n,) log p(target)
    # Sum over the kept rows, divide by how many there are (0/0 = nan when none is kept).
    return -(picked * keep).sum() / keep.sum()
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §2 Batches of random windows
# ---------------------------------------------------------------------------------------------

def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of `batch_size` random windows of `block_size` tokens, and the tokens that follow.

    Row b of ``x`` is ``data[s_b : s_b + block_size]`` and row b of ``y`` is the same window moved
    one token to the right, ``data[s_b + 1 : s_b + block_size + 1]``: ``y[b, t]`` is the token that
    comes after ``x[b, t]``, the target at that position. So one window trains block_size
    predictions at once.

    The starts are drawn with ONE call, exactly::

        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)

    so that every start from 0 to ``len(data) - block_size - 1`` is possible (the last one still has
    its target), and so that a run is reproducible: the same generator state gives the same batch.

    Args:
        data: the token stream, a 1-D integer tensor (any integer dtype), on the CPU.
        batch_size, block_size: the batch's shape.
        generator: where the randomness comes from (None: PyTorch's global generator).
        device: where to put the batch (default: the CPU).

    Returns:
        ``(x, y)``, two int64 tensors of shape (batch_size, block_size) on `device`.

    Raises:
        ValueError: if data is not 1-D or is too short for one window and its target.
    """
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D stream of token ids, got shape {tuple(data.shape)}")
    if batch_size <= 0 or block_size <= 0:
        raise ValueError(f"batch_size and block_size must be positive, got {batch_size} and {block_size}")
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens: a window of {block_size} tokens and its target need at "
                         f"least {block_size + 1}")
    ### BEGIN SOLUTION [07 §2] Draw batch_size window starts from the generator as the docstring says; x holds the windows and y the same windows one token later, as int64 on the device.
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)   # (batch,)
    x = torch.stack([data[s: s + block_size] for s in starts.tolist()])                    # (batch, block)
    y = torch.stack([data[s + 1: s + 1 + block_size] for s in starts.tolist()])            # shifted by one
    return x.to(device=device, dtype=torch.long), y.to(device=device, dtype=torch.long)
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §3 AdamW
# ---------------------------------------------------------------------------------------------

class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    For each parameter p with gradient g, at step t = 1, 2, ... (its own count)::

        p   <- p * (1 - lr * weight_decay)                 # decay: decoupled from the gradient
        m   <- beta1 * m + (1 - beta1) * g                  # running mean of gradients
        v   <- beta2 * v + (1 - beta2) * g * g              # running mean of squared gradients
        m_hat = m / (1 - beta1 ** t)                        # bias correction: m, v start at 0
        v_hat = v / (1 - beta2 ** t)
        p   <- p - lr * m_hat / (sqrt(v_hat) + eps)

    "Decoupled" means the decay shrinks the weights directly instead of being added to the
    gradient (which Adam would then divide by sqrt(v), weakening it for parameters with large
    gradients). Each parameter group may set its own lr and weight_decay (e.g. 0 for biases and
    norms), and :func:`train` changes ``group["lr"]`` every step.

    State per parameter (``self.state[p]``): ``"step"`` (an int), ``"exp_avg"`` (m) and
    ``"exp_avg_sq"`` (v), both shaped like p; ``state_dict()``/``load_state_dict()`` (inherited)
    save and restore them, so a resumed run continues exactly.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"eps and weight_decay must be >= 0, got {eps} and {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Update every parameter that has a gradient (``p.grad is not None``); skip the others.

        Args:
            closure: optional function that recomputes and returns the loss (PyTorch's API).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                ### BEGIN SOLUTION [07 §3] Keep m, v and a step count per parameter in self.state, decay the weight directly, then take Adam's bias-corrected step.
                grad = p.grad
                state = self.state[p]
                if not state:  # first step for this parameter
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * weight_decay)                       # decoupled weight decay
                m.mul_(beta1).add_(grad, alpha=1 - beta1)           # m = beta1 m + (1 - beta1) g
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
                bias_correction1 = 1 - beta1 ** t
                bias_correction2 = 1 - beta2 ** t
                # sqrt(v_hat) + eps, written as PyTorch does: sqrt(v) / sqrt(1 - beta2^t) + eps
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / bias_correction1)  # p -= lr * m_hat / denom
                ### END SOLUTION
        return loss


# ---------------------------------------------------------------------------------------------
# §4 Learning-rate schedule
# ---------------------------------------------------------------------------------------------

def lr_schedule(step: int, *, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """The learning rate at `step` (0-based): linear warmup, cosine decay, then a floor.

    * warmup, ``step < warmup_steps``: ``max_lr * (step + 1) / warmup_steps`` (the first step
      already moves, the last warmup step reaches max_lr);
    * decay, ``warmup_steps <= step < total_steps``: with
      ``progress = (step - warmup_steps) / (total_steps - warmup_steps)`` (0 to almost 1),
      ``min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * progress))`` (max_lr down to min_lr);
    * after, ``step >= total_steps``: ``min_lr``.

    Why: at the start the weights are random and Adam's statistics are empty, so big steps
    would throw the model far off; at the end small steps let it settle into a minimum instead
    of bouncing around it.

    Returns:
        The learning rate, a Python float.

    Raises:
        ValueError: for negative steps or rates, min_lr > max_lr, or total_steps < warmup_steps.
    """
    if step < 0 or warmup_steps < 0 or total_steps < warmup_steps:
        raise ValueError(f"need 0 <= step and 0 <= warmup_steps <= total_steps, got step={step}, "
                         f"warmup_steps={warmup_steps}, total_steps={total_steps}")
    if not 0.0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    ### BEGIN SOLUTION [07 §4] Linear warmup that reaches max_lr on the last warmup step, a half cosine from max_lr down to min_lr until total_steps, then min_lr.
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)          # in [0, 1)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §5 Gradient clipping
# ---------------------------------------------------------------------------------------------

def clip_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor, max_norm: float,
                   *, eps: float = 1e-6) -> torch.Tensor:
    """Scale all gradients together so that their global L2 norm is at most `max_norm`.

    The global norm treats every gradient of every parameter as one long vector::

        total_norm = sqrt(sum over parameters of sum(p.grad ** 2))

    If it exceeds max_norm, every gradient is multiplied by ``max_norm / (total_norm + eps)``
    (the same factor for all, so the update keeps its direction); otherwise they are left as
    they are. Same as ``torch.nn.utils.clip_grad_norm_``. Parameters without a gradient are
    skipped.

    Args:
        parameters: the parameters (e.g. ``model.parameters()``), or one tensor.
        max_norm: the largest norm allowed (> 0).
        eps: keeps the division safe when all gradients are zero.

    Returns:
        The total norm BEFORE clipping, a 0-dim float tensor (0. if no parameter has a gradient).
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    ### BEGIN SOLUTION [07 §5] Measure the norm of all gradients together and, if it is above max_norm, scale every gradient by the same factor; return the norm measured first.
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), 2) for g in grads])   # (n_params,)
    total_norm = torch.linalg.vector_norm(norms, 2)                                  # sqrt(sum of squares)
    clip_coef = torch.clamp(max_norm / (total_norm + eps), max=1.0)                  # <= 1: only shrink
    for g in grads:
        g.detach().mul_(clip_coef.to(g.device, g.dtype))
    return total_norm
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §6 One training step, and the loss on held-out text
# ---------------------------------------------------------------------------------------------

def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               *, lr: float, grad_clip: float | None = 1.0) -> torch.Tensor:
    """One update of the model on one batch.

    In order: set the learning rate of every parameter group of `optimizer` to `lr`; compute
    the logits ``model(x)`` (batch, seq, vocab) and the loss :func:`cross_entropy` against `y`;
    clear the old gradients (``optimizer.zero_grad(set_to_none=True)``: PyTorch ADDS new
    gradients to old ones), backpropagate, clip the gradients with :func:`clip_grad_norm` if
    `grad_clip` is not None, and let the optimizer step.

    Args:
        model: returns logits (batch, seq, vocab) for token ids (batch, seq); in training mode.
        optimizer: any ``torch.optim.Optimizer`` over the model's parameters (yours or PyTorch's).
        x, y: int64 tensors (batch, seq): inputs and targets, on the model's device.
        lr: the learning rate for this step (from :func:`lr_schedule`).
        grad_clip: max global gradient norm, or None for no clipping.

    Returns:
        The loss of this batch, BEFORE the update, as a detached 0-dim tensor (``loss.detach()``:
        no graph kept alive, and on a GPU no wait for the value; call ``float()`` when you need it).
    """
    ### BEGIN SOLUTION [07 §6] Set the learning rate, compute the loss, clear the old gradients, backpropagate, clip when asked, let the optimizer step, and return the loss without its graph.
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)                                          # (batch, seq, vocab)
    loss = cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)                      # gradients accumulate otherwise
    loss.backward()
    if grad_clip is not None:
        clip_grad_norm(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
    ### END SOLUTION


def evaluate(model: nn.Module, data: torch.Tensor, *, batch_size: int, block_size: int, iters: int,
             generator: torch.Generator | None = None) -> float:
    """The mean loss of the model on `iters` random batches of `data` (usually the validation set).

    The model is put in evaluation mode (``model.eval()``: no dropout) and the loss computed
    without building a graph (``torch.no_grad()``: less memory, faster); afterwards the model
    goes back to the mode it was in. Pass a freshly seeded generator to measure on the same
    batches every time, so that two evaluations differ only because the model changed.

    Args:
        model: returns logits (batch, seq, vocab).
        data: a 1-D token stream.
        batch_size, block_size: the shape of each batch (see :func:`get_batch`).
        iters: how many batches to average over (> 0).
        generator: for :func:`get_batch`.

    Returns:
        The mean of the `iters` batch losses, a Python float.
    """
    if iters <= 0:
        raise ValueError(f"iters must be positive, got {iters}")
    device = _model_device(model)
    ### BEGIN SOLUTION [07 §6] The mean loss over iters batches, measured in eval mode and without building a graph, with the model put back in the mode it was in.
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        with torch.no_grad():
            for _ in range(iters):
                x, y = get_batch(data, batch_size, block_size, generator=generator, device=device)
                total += float(cross_entropy(model(x), y))
        return total / iters
    finally:
        model.train(was_training)
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §7 Checkpoints: stop, and continue exactly where you stopped
# ---------------------------------------------------------------------------------------------

def capture_rng_state() -> dict[str, Any]:
    """The state of PyTorch's global random generators (CPU, and every CUDA device if any).

    Dropout and ``torch.randn`` without a generator draw from these; a resumed run must restore
    them to draw the same numbers as an uninterrupted one.
    """
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo what :func:`capture_rng_state` captured (the CUDA part only where CUDA is in use)."""
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)``, written to a temporary file then renamed: a crash (or a full
    disk) in the middle leaves the previous checkpoint intact instead of half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                    step: int, generator: torch.Generator | None = None, extra: dict | None = None) -> None:
    """Save everything a run needs to continue exactly as if it had never stopped.

    That is more than the weights: the optimizer's state (AdamW's m, v and step counts; without
    them the next steps would be different), the step reached (the learning-rate schedule depends
    on it), the batch generator's state (or the resumed run would see other batches), and PyTorch's
    global random state (dropout), via :func:`capture_rng_state`.

    The file is a dict with the keys ``"model"`` (``model.state_dict()``), ``"optimizer"``
    (``optimizer.state_dict()``), ``"step"``, ``"generator"`` (``generator.get_state()`` or None),
    ``"rng"`` (:func:`capture_rng_state`) and ``"extra"`` (`extra`, e.g. the loss history), written
    with :func:`atomic_save`.

    Args:
        path: the file to write (its folder is created).
        model, optimizer: what to save.
        step: the number of steps done (the next step to run).
        generator: the batch generator, if any.
        extra: anything else to keep (plain Python data and tensors).
    """
    ### BEGIN SOLUTION [07 §7] One dictionary with everything the next steps depend on (the six keys of the docstring), written so that a crash cannot leave half a file.
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "generator": generator.get_state() if generator is not None else None,
        "rng": capture_rng_state(),
        "extra": extra,
    }
    atomic_save(checkpoint, path)
    ### END SOLUTION


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                    generator: torch.Generator | None = None) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` saved, in place, and return the rest.

    Loads the model's weights (onto the device the model is on), the optimizer's state if an
    optimizer is given, the generator's state if one is given and was saved, and PyTorch's global
    random state (:func:`restore_rng_state`).

    Args:
        path: a file written by :func:`save_checkpoint`.
        model: a model of the same architecture (its weights are replaced).
        optimizer: an optimizer over `model`'s parameters, or None to load the weights only.
        generator: the batch generator to restore, or None.

    Returns:
        ``{"step": int, "extra": what was saved as extra}``.
    """
    ### BEGIN SOLUTION [07 §7] Read the file back safely, put each saved state back where it came from (model, optimizer, generator, global random state), and return the step and extra.
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])          # copies into the model's own device
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])  # moves state to the params' devices
    if generator is not None and checkpoint["generator"] is not None:
        generator.set_state(checkpoint["generator"])
    restore_rng_state(checkpoint["rng"])
    return {"step": checkpoint["step"], "extra": checkpoint["extra"]}
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §8 Perplexity
# ---------------------------------------------------------------------------------------------

def perplexity(model: nn.Module, tokens: torch.Tensor, *, block_size: int, batch_size: int = 16) -> float:
    """exp(mean cross-entropy) of the model on EVERY next-token prediction of `tokens`.

    The stream is cut into consecutive, non-overlapping windows: inputs
    ``tokens[s : s + block_size]`` and targets ``tokens[s + 1 : s + block_size + 1]`` for
    s = 0, block_size, 2 * block_size, ...; the last window is shorter (it ends at the last
    token). So each of the ``len(tokens) - 1`` tokens after the first is predicted exactly once,
    and the mean is over those predictions (a short last window weighs by its length, not as much
    as a full one). Windows may be batched together when they have the same length.

    Perplexity = exp(mean loss): the model is "as uncertain as a uniform choice among
    perplexity tokens". A model that knows nothing gives the vocabulary size; a perfect one, 1.

    Like :func:`evaluate`: eval mode and no graph inside, the model's mode restored after.

    Args:
        model: returns logits (batch, seq, vocab).
        tokens: a 1-D token stream with at least 2 tokens.
        block_size: the longest window the model accepts.
        batch_size: how many windows to run at once.

    Returns:
        The perplexity, a Python float.
    """
    if tokens.dim() != 1 or len(tokens) < 2:
        raise ValueError(f"tokens must be a 1-D stream of at least 2 ids, got shape {tuple(tokens.shape)}")
    device = _model_device(model)
    ### BEGIN SOLUTION [07 §8] exp of the mean loss over every prediction of the stream, in consecutive windows of at most block_size, each prediction counted once, in eval mode.
    n_predictions = len(tokens) - 1
    starts = list(range(0, n_predictions, block_size))
    full = [s for s in starts if s + block_size <= n_predictions]     # windows of block_size targets
    last = [s for s in starts if s + block_size > n_predictions]      # at most one shorter window
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            groups = [full[i: i + batch_size] for i in range(0, len(full), batch_size)] + [[s] for s in last]
            for group in groups:
                length = min(block_size, n_predictions - group[0])
                x = torch.stack([tokens[s: s + length] for s in group]).to(device=device, dtype=torch.long)
                y = torch.stack([tokens[s + 1: s + 1 + length] for s in group]).to(device=device, dtype=torch.long)
                total += float(cross_entropy(model(x), y)) * y.numel()  # mean * count = sum
    finally:
        model.train(was_training)
    return math.exp(total / n_predictions)
    ### END SOLUTION


# =============================================================================================
# Provided: everything below is given. Read it; you do not need to change it.
# =============================================================================================

def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


class BigramLM(nn.Module):
    """The smallest language model: the next token depends on the current token only.

    Its whole knowledge is a (vocab, vocab) table of logits: row i holds the scores of every token
    that may follow token i. Trained with the same loss and loop as a GPT, it learns the corpus's
    bigram statistics and nothing more: the floor a model with context must beat.

    Args:
        vocab_size: the number of token ids.
        dropout: dropout on the logits (0 by default; > 0 makes eval/train mode matter).
    """

    def __init__(self, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.table = nn.Embedding(vocab_size, vocab_size)
        nn.init.normal_(self.table.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (batch, seq) int64 -> logits (batch, seq, vocab)."""
        return self.dropout(self.table(idx))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None, **_: Any) -> torch.Tensor:
        """Sample `max_new_tokens` tokens after idx (batch, seq); returns (batch, seq + new)."""
        for _ in range(max_new_tokens):
            logits = self.table(idx[:, -1]) / max(temperature, 1e-6)          # (batch, vocab)
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits.float(), dim=-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


@dataclasses.dataclass
class TrainConfig:
    """How to train: the loop's knobs (the model's are in its own config).

    Attributes:
        max_steps: optimizer steps; also the length of the learning-rate schedule.
        batch_size: sequences per step (the GLOBAL batch: under torchrun it is split over processes).
        block_size: tokens per sequence (at most the model's block_size).
        max_lr, min_lr, warmup_steps: the schedule (:func:`lr_schedule`).
        weight_decay: AdamW's decay for matrices and embeddings (biases and norms get none).
        betas, eps: AdamW's.
        grad_clip: max global gradient norm, or None.
        eval_interval: evaluate every this many steps (and at the last step).
        eval_iters: batches per evaluation.
        seed: seeds the batch generator (the model's initialisation is the caller's business).
        optimizer: "torch" (``torch.optim.AdamW``, fused or foreach where available: fastest) or
            "course" (your :class:`AdamW`).
        compile: wrap the model in ``torch.compile`` (worth it on a GPU for long runs).
        amp: "auto" (bf16 autocast on a CUDA GPU that supports it, else float32), "bf16" or "off".
        checkpoint_interval: save a checkpoint every this many steps (and at the end) when
            `train` gets a checkpoint_path.
        time_budget_s: if set, stop after this many seconds (evaluations included), and (with
            `time_schedule`) let the schedule's decay follow the clock instead of the step count,
            so that the learning rate reaches min_lr when the time is up (for benchmarks; the run
            is then not reproducible step for step).
        time_schedule: see `time_budget_s`; False keeps the schedule on steps (max_steps).
    """

    max_steps: int = 1000
    batch_size: int = 16
    block_size: int = 128
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    eval_interval: int = 100
    eval_iters: int = 20
    seed: int = 1337
    optimizer: str = "torch"
    compile: bool = False
    amp: str = "auto"
    checkpoint_interval: int | None = None
    time_budget_s: float | None = None
    time_schedule: bool = True


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: one dict per evaluation: step, tokens (seen so far, all processes), seconds
            (since the start, evaluations included), lr, train_loss (mean of the training batches
            since the previous evaluation), val_loss.
        steps: steps done in total (including before a resume).
        tokens: training tokens seen in total.
        seconds: wall-clock time of this call.
        tokens_per_s: training throughput of this call, evaluations excluded.
        stopped_early: True if `stop_after` or the time budget ended the run before max_steps.
    """

    history: list[dict[str, float]]
    steps: int
    tokens: int
    seconds: float
    tokens_per_s: float
    stopped_early: bool = False

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


@dataclasses.dataclass
class DistributedInfo:
    """Where this process stands in a `torchrun` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_info(device: torch.device | None = None) -> DistributedInfo:
    """Join the process group that ``torchrun`` describes in the environment (once), or report
    a single process.

    ``torchrun --nproc_per_node N script.py`` starts N copies of the script with RANK, WORLD_SIZE
    and LOCAL_RANK set. The backend is NCCL on CUDA GPUs and gloo on the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = device is not None and torch.device(device).type == "cuda"
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the model's parameters, with weight decay on matrices and embeddings only.

    Decaying a bias or a LayerNorm gain towards 0 has no regularising purpose (they do not
    multiply the input), so parameters with fewer than 2 dims get weight_decay 0. Shared
    (tied) parameters appear once. ``config.optimizer`` chooses PyTorch's AdamW (fused kernels
    on a GPU, the multi-tensor "foreach" path on a CPU) or the course's :class:`AdamW`.
    """
    params = [p for p in model.parameters() if p.requires_grad]   # parameters() deduplicates tied ones
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "course":
        return AdamW(groups, lr=config.max_lr, betas=config.betas, eps=config.eps)
    if config.optimizer != "torch":
        raise ValueError(f"optimizer must be 'torch' or 'course', got {config.optimizer!r}")
    device = params[0].device if params else torch.device("cpu")
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=config.max_lr, betas=config.betas, eps=config.eps, **fast)


class _Autocast(nn.Module):
    """Runs the wrapped model under bf16 autocast and returns float32 logits (for the loss)."""

    def __init__(self, model: nn.Module, device_type: str) -> None:
        super().__init__()
        self.model = model
        self.device_type = device_type

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
            out = self.model(idx)
        return out.float()


def _use_bf16(config: TrainConfig, device: torch.device) -> bool:
    if config.amp == "off":
        return False
    if config.amp == "bf16":
        return True
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _budget_step(step: int, elapsed: float, config: TrainConfig) -> int:
    """With a time budget: the schedule position the clock says (the warmup still counts steps)."""
    if step < config.warmup_steps:
        return step
    fraction = min(1.0, elapsed / config.time_budget_s)
    return config.warmup_steps + int(fraction * (config.max_steps - config.warmup_steps))


def train(
    model: nn.Module,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    *,
    callback: Callable[[dict[str, float], list[dict[str, float]]], Any] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainResult:
    """Train `model` on the token stream `train_data`, evaluating on `val_data` now and then.

    The loop, for step = 0 .. config.max_steps - 1::

        lr = lr_schedule(step, ...)                            # your §4
        x, y = get_batch(train_data, ..., generator=gen)       # your §2 (the global batch)
        loss = train_step(model, optimizer, x, y, lr=lr, ...)  # your §6 (with your §1, §5)
        every eval_interval steps: evaluate(...) on train and val  # your §6
            -> history, progress bar, callback(record, history)
        every checkpoint_interval steps: save_checkpoint(...)  # your §7

    What it adds around your pieces:

    * **speed**: the model runs under bf16 autocast on a CUDA GPU (TF32 matmuls too), can be
      compiled (``config.compile``), and PyTorch's fused AdamW is used unless
      ``config.optimizer == "course"``; the loss is read back from the device only at evaluations.
    * **several processes** (``torchrun --nproc_per_node N``): each process draws the same global
      batch and trains on its own slice of rows, ``DistributedDataParallel`` averages the
      gradients, so N processes compute what one would with the whole batch. Only rank 0 shows a
      progress bar, calls `callback` and writes checkpoints.
    * **resume**: with `checkpoint_path` and ``resume=True``, continues from the checkpoint if
      it exists (bit-identical on a CPU to a run that never stopped). `stop_after` ends the run
      after that many steps in total, to simulate an interruption.

    Args:
        model: returns logits (batch, seq, vocab); trained in place, on the device it is on
            (under torchrun with CUDA, moved to this process's GPU).
        train_data, val_data: 1-D token streams (on the CPU).
        config: a :class:`TrainConfig`.
        callback: called on rank 0 after each evaluation with (the new record, the history).
        checkpoint_path: where to save (and resume from).
        resume: continue from `checkpoint_path` if the file exists.
        stop_after: stop once this many steps are done (None: run to max_steps).
        progress: show a tqdm progress bar.
        optimizer: use this optimizer instead of :func:`make_optimizer`'s.

    Returns:
        A :class:`TrainResult`.
    """
    started = time.perf_counter()
    device = _model_device(model)
    dist_info = distributed_info(device)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(device)
        model.to(device)
    if config.batch_size % dist_info.world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of processes "
                         f"({dist_info.world_size})")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True   # TF32 tensor cores for float32 matmuls
        torch.backends.cudnn.allow_tf32 = True

    raw_model = model
    optimizer = optimizer if optimizer is not None else make_optimizer(raw_model, config)
    run_model: nn.Module = raw_model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        run_model = DistributedDataParallel(
            raw_model, device_ids=[device.index] if device.type == "cuda" else None)
    uncompiled = None
    if _use_bf16(config, device):
        run_model = _Autocast(run_model, device.type)
    if config.compile:
        uncompiled, run_model = run_model, torch.compile(run_model)
    eval_model: nn.Module = _Autocast(raw_model, device.type) if _use_bf16(config, device) else raw_model

    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    start_step, tokens_before, running = 0, 0, [0.0, 0]
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        info = load_checkpoint(checkpoint_path, raw_model, optimizer, generator=generator)
        start_step = info["step"]
        extra = info["extra"] or {}
        history = list(extra.get("history", []))
        tokens_before = int(extra.get("tokens", 0))
        running = list(extra.get("running", [0.0, 0]))
        if dist_info.is_main and progress:
            print(f"resumed from {checkpoint_path} at step {start_step}")

    end_step = config.max_steps if stop_after is None else min(config.max_steps, stop_after)
    bar = None
    if progress and dist_info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.max_steps, initial=start_step, desc="training", unit="step",
                   dynamic_ncols=True)

    tokens_per_step = config.batch_size * config.block_size
    rows = slice(dist_info.rank * config.batch_size // dist_info.world_size,
                 (dist_info.rank + 1) * config.batch_size // dist_info.world_size)
    train_seconds, eval_seconds = 0.0, 0.0
    loss_sum = torch.zeros((), device=device)          # summed on the device: no sync per step
    loss_sum += running[0]
    loss_count = int(running[1])
    step = start_step
    stopped_early = False
    run_model.train()

    def run_eval(step_done: int, lr: float) -> dict[str, float]:
        eval_gen = torch.Generator().manual_seed(config.seed + 1)   # the same batches every time
        val_loss = evaluate(eval_model, val_data, batch_size=config.batch_size, block_size=config.block_size,
                            iters=config.eval_iters, generator=eval_gen)
        total = loss_sum
        if dist_info.enabled:              # each process saw its own rows: average over processes
            import torch.distributed as dist

            total = loss_sum.detach().clone()
            dist.all_reduce(total)
            total /= dist_info.world_size
        train_loss = float(total) / loss_count if loss_count else float("nan")
        return {"step": step_done, "tokens": tokens_before + (step_done - start_step) * tokens_per_step,
                "seconds": round(time.perf_counter() - started, 3), "lr": lr,
                "train_loss": train_loss, "val_loss": val_loss}

    if start_step == 0 and not history:   # the loss before any training: the curve's first point
        t0 = time.perf_counter()
        record = run_eval(0, 0.0)
        record["train_loss"] = record["val_loss"]
        history.append(record)
        eval_seconds += time.perf_counter() - t0
        if callback is not None and dist_info.is_main:
            callback(record, history)

    lr = 0.0
    while step < end_step:
        t0 = time.perf_counter()
        schedule_step = step
        if config.time_budget_s is not None:
            elapsed = time.perf_counter() - started
            if elapsed >= config.time_budget_s:
                stopped_early = True
                break
            if config.time_schedule:
                schedule_step = _budget_step(step, elapsed, config)
        lr = lr_schedule(schedule_step, max_lr=config.max_lr, warmup_steps=config.warmup_steps,
                         total_steps=config.max_steps, min_lr=config.min_lr)
        x, y = get_batch(train_data, config.batch_size, config.block_size, generator=generator, device=device)
        if dist_info.enabled:
            x, y = x[rows], y[rows]
        if uncompiled is not None:         # the first step of a compiled model: compilation happens here
            try:
                loss = train_step(run_model, optimizer, x, y, lr=lr, grad_clip=config.grad_clip)
            except Exception as err:  # noqa: BLE001 - no compiler for this platform: run eagerly instead
                if dist_info.is_main:
                    print(f"torch.compile failed ({type(err).__name__}: {str(err)[:200]}); training without it")
                run_model = uncompiled
                loss = train_step(run_model, optimizer, x, y, lr=lr, grad_clip=config.grad_clip)
            uncompiled = None
        else:
            loss = train_step(run_model, optimizer, x, y, lr=lr, grad_clip=config.grad_clip)
        loss_sum += torch.as_tensor(loss, device=device).detach()
        loss_count += 1
        step += 1
        if bar is not None:
            bar.update(1)
        train_seconds += time.perf_counter() - t0

        if step % config.eval_interval == 0 or step == config.max_steps:
            if device.type == "cuda":      # the GPU runs behind the Python loop: let it finish the
                t0 = time.perf_counter()   # training steps queued, and count that as training time
                torch.cuda.synchronize(device)
                train_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            record = run_eval(step, lr)
            history.append(record)
            loss_sum.zero_()
            loss_count = 0
            if bar is not None:
                bar.set_postfix(train=f"{record['train_loss']:.3f}", val=f"{record['val_loss']:.3f}")
            if callback is not None and dist_info.is_main:
                callback(record, history)
            eval_seconds += time.perf_counter() - t0
        if checkpoint_path is not None and dist_info.is_main and (
                step == end_step or (config.checkpoint_interval and step % config.checkpoint_interval == 0)):
            save_checkpoint(checkpoint_path, raw_model, optimizer, step=step, generator=generator,
                            extra={"history": history, "tokens": tokens_before + (step - start_step) * tokens_per_step,
                                   "running": [float(loss_sum), loss_count],
                                   "config": dataclasses.asdict(config)})

    if stopped_early and (not history or history[-1]["step"] != step):   # the time budget ran out
        record = run_eval(step, lr)
        history.append(record)
        if callback is not None and dist_info.is_main:
            callback(record, history)
    if bar is not None:
        bar.close()
    done = step - start_step
    return TrainResult(history=history, steps=step, tokens=tokens_before + done * tokens_per_step,
                       seconds=time.perf_counter() - started,
                       tokens_per_s=done * tokens_per_step / train_seconds if train_seconds > 0 else 0.0,
                       stopped_early=stopped_early or step < config.max_steps)


# ---------------------------------------------------------------------------------------------
# Provided: data in, text out, and what a run costs
# ---------------------------------------------------------------------------------------------

def encode_corpus(tokenizer: Any, text: str, *, separator: str = "\n\n", eot: str = "<|endoftext|>",
                  dtype: torch.dtype = torch.int32) -> torch.Tensor:
    """The token stream of a corpus of documents: each document, then the end-of-text token.

    The course corpus separates its stories with a blank line; the model learns from
    ``<|endoftext|>`` that a story ended and another, unrelated one begins (and notebook 08 can
    stop generation there).

    Args:
        tokenizer: a course tokenizer with `eot` registered as a special token.
        text: the documents, separated by `separator`.
        dtype: of the result (int32 halves the memory of int64; get_batch makes int64 batches).

    Returns:
        A 1-D tensor of token ids.
    """
    documents = [d.strip() for d in text.split(separator) if d.strip()]
    joined = eot.join(documents) + eot
    return torch.tensor(tokenizer.encode(joined, allowed_special="all"), dtype=dtype)


def sample_text(model: nn.Module, tokenizer: Any, *, n: int = 8, max_new_tokens: int | None = None,
                temperature: float = 1.0, top_k: int | None = None, seed: int = 0, prompt: str = "<|endoftext|>",
                eot: str = "<|endoftext|>") -> list[str]:
    """`n` samples from the model, each continuing `prompt`, with end-of-text shown as a blank line.

    Args:
        model: a model with ``generate(idx, max_new_tokens, *, temperature, top_k, generator)``.
        tokenizer: the model's tokenizer.
        max_new_tokens: default: as many as the model's context has room for.
        seed: the sampling generator's seed (same seed, same samples).

    Returns:
        The generated texts (without the prompt).
    """
    device = _model_device(model)
    prompt_ids = tokenizer.encode(prompt, allowed_special="all")
    if max_new_tokens is None:
        block = getattr(getattr(model, "config", None), "block_size", 128)
        max_new_tokens = block - len(prompt_ids)
    generator = torch.Generator(device=device.type if device.type != "mps" else "cpu").manual_seed(seed)
    idx = torch.tensor([prompt_ids] * n, dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)
    finally:
        model.train(was_training)
    texts = [tokenizer.decode(row[len(prompt_ids):].tolist()) for row in out.cpu()]
    return [t.replace(eot, "\n\n") for t in texts]


def grammar_validity(model: nn.Module, tokenizer: Any, *, n: int = 64, temperature: float = 1.0,
                     top_k: int | None = None, seed: int = 0, max_new_tokens: int | None = None):
    """The share of generated sentences that the course world's grammar accepts.

    Samples `n` texts (:func:`sample_text`) and scores their complete sentences with
    ``course_lib.data.grammar_report`` (the unfinished last sentence of each sample does not count;
    a story the model ends in the middle of a sentence does, as an invalid sentence).

    Returns:
        ``(report, texts)``: a ``GrammarReport`` (``valid_fraction``, ``n_sentences``, a few
        invalid examples) and the samples.
    """
    from course_lib import data

    texts = sample_text(model, tokenizer, n=n, temperature=temperature, top_k=top_k, seed=seed,
                        max_new_tokens=max_new_tokens)
    # Each sample stops after max_new_tokens, usually in the middle of a sentence: drop that
    # unfinished end of EACH sample, or it would be glued to the next sample's first sentence.
    complete = [text[: max(text.rfind(mark) for mark in ".!?") + 1] for text in texts]
    return data.grammar_report("\n\n".join(complete)), texts


def flops_per_token(model: nn.Module, block_size: int | None = None) -> dict[str, float]:
    """Training FLOPs per token of a GPT (Kaplan et al. 2020; the count nanoGPT's MFU uses).

    A matrix multiply-add costs 2 FLOPs per weight per token forward and twice that backward:
    ``6 * N`` per token with N the non-embedding parameters (the embedding lookup is free; the
    tied LM head is a matmul, so we count it). Attention adds ``6 * 2 * n_layer * T * d_model``
    (scores and weighted sum, forward and backward) for a context of T tokens.

    Returns:
        ``{"params": N, "per_token": 6N + attention, "dense": 6N, "attention": ...}``.
    """
    config = getattr(model, "config", None)
    n_params = sum(p.numel() for p in model.parameters())
    pos = getattr(model, "pos_emb", None)
    if pos is not None and hasattr(pos, "weight"):
        n_params -= pos.weight.numel()
    attention = 0.0
    if config is not None and block_size is not None:
        attention = 6.0 * 2 * config.n_layer * block_size * config.d_model
    return {"params": float(n_params), "dense": 6.0 * n_params, "attention": attention,
            "per_token": 6.0 * n_params + attention}


class LiveLossPlot:
    """A callback for :func:`train` that redraws the train and validation loss after each
    evaluation, in place, in a notebook (and prints one line elsewhere).

    Args:
        title: the figure's title.
        reference: optional {label: loss} horizontal lines (e.g. the unigram entropy).
    """

    def __init__(self, title: str = "loss", reference: dict[str, float] | None = None) -> None:
        self.title = title
        self.reference = reference or {}
        self.handle = None
        self.figure = None

    def __call__(self, record: dict[str, float], history: list[dict[str, float]]) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
            in_notebook = get_ipython() is not None and "IPKernelApp" in get_ipython().config
        except ImportError:
            in_notebook = False
        if not in_notebook:
            return
        import matplotlib.pyplot as plt

        if self.figure is None:
            self.figure, self.ax = plt.subplots(figsize=(7, 3.2))
            plt.close(self.figure)   # drawn through the display handle only
        ax = self.ax
        ax.clear()
        steps = [h["step"] for h in history]
        ax.plot(steps[1:], [h["train_loss"] for h in history][1:], "o-", ms=3, label="train (mean since last eval)")
        ax.plot(steps, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
        for label, value in self.reference.items():
            ax.axhline(value, ls=":", color="grey")
            ax.text(steps[-1] if steps else 0, value, f" {label}", va="bottom", ha="right", fontsize=8, color="grey")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(f"{self.title}: step {record['step']}, val {record['val_loss']:.3f}")
        ax.legend(loc="center right", fontsize=8)
        self.figure.tight_layout()
        # A PNG rather than the figure itself: it shows whatever matplotlib backend is in use.
        from io import BytesIO

        from IPython.display import Image

        buffer = BytesIO()
        self.figure.savefig(buffer, format="png", dpi=90)
        image = Image(data=buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)


# ---------------------------------------------------------------------------------------------
# Provided: the command line (also what `torchrun` launches)
# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """``python -m course_lib.training [--mode quick] [--max-steps N] [--no-save]``: train the course
    GPT with the recipe of notebook 07 (``course_lib.pretrained.RECIPES``) and save it as the stage
    "pretrained". Under ``torchrun --nproc_per_node N -m course_lib.training ...`` every process
    runs this, and :func:`train` spreads each batch over them; rank 0 measures and saves."""
    import argparse

    from course_lib import data
    from course_lib.decoder import GPT, GPTConfig
    from course_lib.device import get_device, run_mode
    from course_lib.pretrained import MODES, course_tokenizer, recipe, save_stage

    parser = argparse.ArgumentParser(prog="python -m course_lib.training", description=main.__doc__)
    parser.add_argument("--mode", choices=MODES, default=None, help="recipe (default: course_lib.device.run_mode())")
    parser.add_argument("--max-steps", type=int, default=None, help="override the recipe's number of steps")
    parser.add_argument("--no-save", action="store_true", help="do not save the stage 'pretrained'")
    args = parser.parse_args(argv)

    device = get_device()
    dist_info = distributed_info(device)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    mode = args.mode or run_mode(device)
    rec = recipe(mode)
    say = print if dist_info.is_main else (lambda *a, **k: None)
    if device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        configure_threads(max(1, cores // dist_info.world_size) if dist_info.enabled else None,
                          verbose=dist_info.is_main)
    train_text, val_text = data.corpus("train", rec.corpus_size), data.corpus("val", rec.corpus_size)
    tokenizer = course_tokenizer(train_text, rec.vocab_size)        # deterministic: the same on every rank
    train_ids, val_ids = encode_corpus(tokenizer, train_text), encode_corpus(tokenizer, val_text)
    torch.manual_seed(0)                                            # the same initial weights on every rank
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **rec.model)).to(device)
    config = TrainConfig(**rec.train)
    if args.max_steps is not None:
        config = dataclasses.replace(config, max_steps=args.max_steps,
                                     warmup_steps=min(config.warmup_steps, args.max_steps))
    say(f"{mode} mode, {dist_info.world_size} process(es) on {device.type}: {model.num_parameters():,} parameters, "
        f"{len(train_ids):,} training tokens, {config}")
    result = train(model, train_ids, val_ids, config, progress=dist_info.is_main)
    if dist_info.is_main:
        report, _ = grammar_validity(model, tokenizer, n=rec.samples)
        say(f"{result.steps} steps, {result.tokens:,} tokens in {result.seconds:.1f} s "
            f"({result.tokens_per_s:,.0f} tokens/s); validation loss {result.final['val_loss']:.3f}; "
            f"{100 * report.valid_fraction:.1f}% of {report.n_sentences} sampled sentences valid")
        if not args.no_save:
            path = save_stage("pretrained", model, tokenizer, extra={
                "mode": mode, "trained_by": f"python -m course_lib.training ({dist_info.world_size} process(es))",
                "steps": result.steps, "tokens": result.tokens, "val_loss": result.final["val_loss"],
                "valid_fraction": report.valid_fraction, "n_sentences": report.n_sentences,
                "seconds": round(result.seconds, 1)})
            say(f"saved to {path}")
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
