"""Public checks for notebook 04 (attention): ``check("attention.softmax")`` and friends.

Each check is the judge: `impl` is a proxy for your ``course_lib.attention`` whose calls run in a
worker and return plain data. Expected values are literal numbers for small fixed inputs
(computed once with the course's reference solution and pasted here), properties that any
correct answer has (rows of weights sum to 1, masked keys get weight 0), and PyTorch's own
implementations of the same ideas, computed here, judge-side: ``torch.softmax``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` loaded with the same weights.
Gradients are computed in the worker by the `probe` functions below, which only exercise your
code and report what happened.

One bug should cost points once: the check of scaled_dot_product_attention runs your softmax
only when the softmax check passes (otherwise, in graded runs, it holds the softmax fixed and
compares outputs only), and the check of MultiHeadAttention does the same with split_heads /
merge_heads, and always holds the masks and scaled_dot_product_attention fixed (its default
fast path uses PyTorch's kernel for the attention itself).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    StudentError,
    expect,
    expect_close,
    expect_equal,
    expect_type,
    hold_fixed,
    probe,
    public_check,
)
from course_lib.device import get_device

NEG_INF = float("-inf")

# ---------------------------------------------------------------------------------------------
# Probes: run in the worker, on the real objects; they exercise your code and report
# ---------------------------------------------------------------------------------------------


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


@probe
def call_and_backward(function, args, kwargs, grad_out, wrt):
    """Call ``function(*args, **kwargs)`` with the tensors ``args[i]`` (i in `wrt`) requiring
    grad, backpropagate `grad_out` from the (first) output, and report the output, the gradients
    and whether the inputs were modified in place."""
    args = list(args)
    before = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]
    for i in wrt:
        args[i] = args[i].detach().clone().requires_grad_(True)
    out = function(*args, **kwargs)
    first = _first_tensor(out)
    differentiable = first is not None and first.requires_grad and first.grad_fn is not None
    grads = [None] * len(wrt)
    if differentiable and grad_out is not None and tuple(first.shape) == tuple(grad_out.shape):
        first.backward(grad_out.to(first.dtype))
        grads = [args[i].grad for i in wrt]
    modified = [i for i, (a, b) in enumerate(zip(args, before))
                if b is not None and (a.shape != b.shape or not torch.equal(a.detach(), b))]
    return {"out": out, "grads": grads, "differentiable": bool(differentiable), "modified": modified}


@probe
def module_summary(module):
    """What kind of object `module` is and which layers and parameters it holds."""
    is_module = isinstance(module, nn.Module)
    return {
        "is_module": is_module,
        "params": {n: list(p.shape) for n, p in module.named_parameters()} if is_module else {},
        "linear": {n: isinstance(getattr(module, n, None), nn.Linear)
                   for n in ("q_proj", "k_proj", "v_proj", "out_proj")},
        "has_bias": {n: getattr(getattr(module, n, None), "bias", None) is not None
                     for n in ("q_proj", "k_proj", "v_proj", "out_proj")},
        "distinct": len({id(getattr(module, n, None)) for n in ("q_proj", "k_proj", "v_proj", "out_proj")}) == 4,
    }


@probe
def module_forward_backward(module, args, kwargs, grad_out):
    """Run `module` (in eval mode) on `args`, backpropagate `grad_out` from its (first) output,
    and report the output and the gradients of the float inputs and of every parameter."""
    module.eval()
    module.zero_grad(set_to_none=True)
    inputs = [a.detach().clone().requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point()
              else a for a in args]
    out = module(*inputs, **kwargs)
    first = _first_tensor(out)
    differentiable = first is not None and first.requires_grad and first.grad_fn is not None
    if differentiable and grad_out is not None and tuple(first.shape) == tuple(grad_out.shape):
        first.backward(grad_out.to(first.dtype))
    return {
        "out": out,
        "differentiable": bool(differentiable),
        "input_grads": [x.grad if isinstance(x, torch.Tensor) else None for x in inputs],
        "param_grads": {n: p.grad for n, p in module.named_parameters()},
    }


@probe
def incremental_forward(module, x, chunks, kwargs):
    """Feed `x` (B, T, d_model) to `module` in pieces of the given sizes, sharing one kv_cache
    dict (eval mode, no grad); report each piece's output and the shapes left in the cache."""
    module.eval()
    cache = {}
    outs, start = [], 0
    with torch.no_grad():
        for size in chunks:
            outs.append(module(x[:, start:start + size], kv_cache=cache, **kwargs))
            start += size
    return {"outs": outs, "cache_shapes": {k: list(v.shape) for k, v in cache.items() if isinstance(v, torch.Tensor)}}


# ---------------------------------------------------------------------------------------------
# Helpers (judge side)
# ---------------------------------------------------------------------------------------------


def _close(got, expected, what: str, hint: str = "", *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`expect_close`, with advice appended to the failure."""
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}".rstrip() if hint else str(err)) from None


def _tensor(got, shape, dtype, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    expect_equal(tuple(got.shape), tuple(shape), f"{what}.shape")
    expect(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype}")


def _matches(got, candidate: torch.Tensor, atol: float = 1e-5) -> bool:
    """True if `got` has `candidate`'s shape and values (to recognise a known mistake)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g, c = got.detach().to("cpu", torch.float64), candidate.detach().to("cpu", torch.float64)
    return bool(torch.isfinite(g).all()) and bool(((g - c).abs() <= atol + 1e-5 * c.abs()).all())


def _randn(*shape, seed: int, dtype=torch.float32, scale: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


def _passes(check_function, impl) -> bool:
    """True if another public check passes on `impl` (used to decide what to hold fixed)."""
    try:
        check_function(impl)
    except (CheckFailed, StudentError):
        return False
    return True


def _held(impl, *names: str):
    return hold_fixed("attention", impl, *names)


# ---------------------------------------------------------------------------------------------
# §1 softmax
# ---------------------------------------------------------------------------------------------

SOFTMAX_HINT = "Expected exp(x - max) / sum(exp(x - max)) along `dim`: every slice along `dim` sums to 1."
# Literals computed with the reference solution in float64.
SOFTMAX_123 = torch.tensor([[0.09003057317, 0.2447284711, 0.6652409558]], dtype=torch.float64)
SOFTMAX_WITH_MASKED = torch.tensor([[0.2689414214, 0.0, 0.7310585786]], dtype=torch.float64)


@public_check("attention.softmax", timeout=30)
def check_softmax(impl) -> None:
    """softmax is right on small inputs, never overflows, follows `dim`, gives zeros for fully masked rows, and has the right gradient."""
    what = "softmax(torch.tensor([[1., 2., 3.]]))"
    out = impl.softmax(torch.tensor([[1.0, 2.0, 3.0]]))
    _tensor(out, (1, 3), torch.float32, what)
    _close(out, SOFTMAX_123.float(), what, SOFTMAX_HINT, atol=1e-6)

    # Large scores: exp(1000) = inf, so without subtracting the maximum the result is NaN.
    what = "softmax(torch.tensor([[1000., 0., -1000.], [1000., 1000., 1000.]]))"
    out = impl.softmax(torch.tensor([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 1000.0]]))
    _tensor(out, (2, 3), torch.float32, what)
    expect(not torch.isnan(out).any() and not torch.isinf(out).any(),
           f"{what} returned {out.tolist()}: exp(1000) overflows to inf (and inf/inf is NaN). Subtract each "
           "row's maximum before exponentiating: softmax(x) = softmax(x - max), and then every exponent is <= 0")
    _close(out, torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]), what, SOFTMAX_HINT, atol=1e-6)

    # -inf entries get weight 0; a row that is entirely -inf gives zeros, not NaN.
    what = "softmax(torch.tensor([[0., -inf, 1.]]))"
    out = impl.softmax(torch.tensor([[0.0, NEG_INF, 1.0]]))
    _close(out, SOFTMAX_WITH_MASKED.float(), what, "A score of -inf must get weight exactly 0.", atol=1e-6)
    what = "softmax(torch.tensor([[-inf, -inf, -inf], [0., -inf, 1.]])) (the first row is fully masked)"
    out = impl.softmax(torch.tensor([[NEG_INF, NEG_INF, NEG_INF], [0.0, NEG_INF, 1.0]]))
    _tensor(out, (2, 3), torch.float32, what)
    expect(not torch.isnan(out).any(),
           f"{what} returned {out.tolist()}: a fully masked row has maximum -inf, and -inf - (-inf) is NaN. "
           "Subtract 0 instead of the maximum where the maximum is -inf, and divide by 1 where the sum is 0, so "
           "that such a row comes out as all zeros")
    _close(out, torch.cat([torch.zeros(1, 3), SOFTMAX_WITH_MASKED.float()]), what,
           "A fully masked row must come out as zeros; the other rows as usual.", atol=1e-6)

    # `dim`: compared with PyTorch's own softmax.
    x = _randn(3, 4, 5, seed=1, scale=3.0)
    for dim in (0, 1, -1):
        what = f"softmax(x, dim={dim}) for x of shape (3, 4, 5)"
        out = impl.softmax(x, dim=dim)
        _tensor(out, (3, 4, 5), torch.float32, what)
        sums = out.detach().double().sum(dim=dim)
        if not _matches(sums, torch.ones_like(sums), atol=1e-4):
            raise CheckFailed(f"{what}: the slices along dim={dim} do not sum to 1 (they sum to values between "
                              f"{sums.min():.4g} and {sums.max():.4g}): normalise along `dim`, use keepdim=True in the "
                              "max and the sum so that they broadcast back along that axis")
        _close(out, torch.softmax(x, dim=dim), what, SOFTMAX_HINT)

    # float64 stays float64, to float64 precision.
    x64 = _randn(4, 7, seed=2, dtype=torch.float64, scale=5.0)
    what = "softmax(x) for x of shape (4, 7), float64"
    out = impl.softmax(x64)
    _tensor(out, (4, 7), torch.float64, what)
    _close(out, torch.softmax(x64, dim=-1), what, "In float64 the result must be accurate to float64 precision.",
           atol=1e-12, rtol=1e-10)

    # Gradients flow (and equal PyTorch's); the input is not modified in place.
    x = _randn(3, 6, seed=3, scale=2.0)
    x[1, 2] = NEG_INF
    x[2] = NEG_INF
    grad_out = _randn(3, 6, seed=4)
    report = call_and_backward(impl.softmax, [x], {"dim": -1}, grad_out, [0])
    expect(not report["modified"], "softmax(x) modified x in place: compute into new tensors (x - m, not x -= m)")
    expect(report["differentiable"],
           "softmax(x) for an x that requires grad returned a tensor without a gradient: compute it with torch "
           "operations on x (no .detach(), .data, .item(), numpy or torch.no_grad())")
    reference = x.clone().requires_grad_(True)
    expected = torch.softmax(reference, dim=-1).nan_to_num(0.0)
    expected.backward(grad_out)
    _close(report["grads"][0], reference.grad.nan_to_num(0.0),
           "the gradient of softmax(x) (x of shape (3, 6), one entry -inf, the last row fully masked)",
           "Build the softmax from differentiable torch operations; a fully masked row gets zero gradient.")


# ---------------------------------------------------------------------------------------------
# §2 causal_mask, padding_mask
# ---------------------------------------------------------------------------------------------

T, F_ = True, False
CAUSAL_4 = torch.tensor([[T, F_, F_, F_], [T, T, F_, F_], [T, T, T, F_], [T, T, T, T]])
CAUSAL_2_5 = torch.tensor([[T, T, T, T, F_], [T, T, T, T, T]])
CAUSAL_3_5 = torch.tensor([[T, T, T, F_, F_], [T, T, T, T, F_], [T, T, T, T, T]])
PADDING_3_1_4 = torch.tensor([[T, T, T, F_], [T, F_, F_, F_], [T, T, T, T]])
PADDING_2_0_MAX_5 = torch.tensor([[T, T, F_, F_, F_], [F_, F_, F_, F_, F_]])


def _bool_mask(got, shape, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    expect(got.dtype == torch.bool, f"{what} has dtype {got.dtype}, expected torch.bool (True = may attend): "
           "compare with < or <=, or build it with dtype=torch.bool")
    expect_equal(tuple(got.shape), tuple(shape), f"{what}.shape")


def _show(mask: torch.Tensor) -> str:
    return "[" + ", ".join("[" + " ".join("T" if v else "F" for v in row) + "]" for row in mask.tolist()) + "]"


@public_check("attention.masks", timeout=30)
def check_masks(impl) -> None:
    """causal_mask hides the future (aligned bottom-right when there are more keys), padding_mask marks the real tokens."""
    what = "causal_mask(4)"
    got = impl.causal_mask(4)
    _bool_mask(got, (4, 4), what)
    if not torch.equal(got, CAUSAL_4):
        advice = "Query i may attend to keys 0..i: the lower triangle, diagonal included."
        if torch.equal(got, CAUSAL_4.tril(-1)):
            advice = "The diagonal is missing: each query must also see its own position (keys j <= i)."
        elif torch.equal(got, CAUSAL_4.T):
            advice = "This is the upper triangle: True must mean 'may attend', which is keys j <= i (the past)."
        elif torch.equal(got, ~CAUSAL_4):
            advice = "True and False are swapped: True must mean 'may attend' (keys j <= i), as in PyTorch."
        raise CheckFailed(f"{what} returned {_show(got)}, expected {_show(CAUSAL_4)}. {advice}")
    expect(torch.equal(impl.causal_mask(1), torch.tensor([[True]])), "causal_mask(1) must be [[True]]")

    for n_q, n_k, expected in ((2, 5, CAUSAL_2_5), (3, 5, CAUSAL_3_5)):
        what = f"causal_mask({n_q}, {n_k})"
        got = impl.causal_mask(n_q, n_k)
        _bool_mask(got, (n_q, n_k), what)
        if not torch.equal(got, expected):
            advice = (f"With more keys than queries the queries are the LAST {n_q} positions: query i sits at position "
                      f"i + {n_k - n_q} and sees keys 0..i + {n_k - n_q}, so the last query sees every key "
                      "(shift the diagonal by n_k - n_q).")
            raise CheckFailed(f"{what} returned {_show(got)}, expected {_show(expected)}. {advice}")

    device = get_device()
    got = impl.causal_mask(3, device=device)
    _bool_mask(got, (3, 3), f"causal_mask(3, device={str(device)!r})")
    expect(got.device.type == device.type, f"causal_mask(3, device={str(device)!r}) is on {got.device}: "
           "create the tensor with device=device")

    what = "padding_mask([3, 1, 4])"
    got = impl.padding_mask([3, 1, 4])
    _bool_mask(got, (3, 4), what)
    if not torch.equal(got, PADDING_3_1_4):
        advice = "Row b is True at positions 0 .. lengths[b] - 1 (the real tokens) and False after (the padding)."
        if torch.equal(got, ~PADDING_3_1_4):
            advice = "True and False are swapped: True marks the real tokens (they may be attended to)."
        raise CheckFailed(f"{what} returned {_show(got)}, expected {_show(PADDING_3_1_4)}. {advice}")
    what = "padding_mask(torch.tensor([2, 0]), max_len=5)"
    got = impl.padding_mask(torch.tensor([2, 0]), max_len=5)
    _bool_mask(got, (2, 5), what)
    expect(torch.equal(got, PADDING_2_0_MAX_5), f"{what} returned {_show(got)}, expected {_show(PADDING_2_0_MAX_5)}: "
           "the mask has max_len columns, and a sequence of length 0 has no real token")
    lengths = torch.tensor([1, 3], device=device)
    got = impl.padding_mask(lengths)
    _bool_mask(got, (2, 3), f"padding_mask(lengths on {device})")
    expect(got.device.type == device.type, f"padding_mask(lengths on {device}) is on {got.device}: build the "
           "positions with device=lengths.device")


# ---------------------------------------------------------------------------------------------
# §3 scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

SDPA_HINT = "Expected softmax(q @ k^T / sqrt(d_k) + mask, dim=-1) @ v."
# A tiny example (n_q=3, n_k=4, d_k=2, d_v=3); literals computed with the reference in float64.
TINY_Q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TINY_K = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 2.0]])
TINY_V = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
TINY_OUT = torch.tensor([[0.6697615493, 0.4423620327, 0.3302384507],
                         [0.6280580901, 0.7543409598, 0.6280580901],
                         [0.7089559132, 0.7089559132, 0.5317509953]], dtype=torch.float64)
TINY_WEIGHTS = torch.tensor([[0.448580533, 0.2211810164, 0.1090574343, 0.2211810164],
                             [0.1228295201, 0.2491123899, 0.1228295201, 0.50522857],
                             [0.2341245024, 0.2341245024, 0.05691958447, 0.4748314108]], dtype=torch.float64)
TINY_MASK = torch.tensor([[T, T, F_, F_], [T, T, T, F_], [F_, F_, F_, F_]])  # the last query sees nothing
TINY_MASKED_OUT = torch.tensor([[0.6697615493, 0.3302384507, 0.0],
                                [0.2482550783, 0.5034898435, 0.2482550783],
                                [0.0, 0.0, 0.0]], dtype=torch.float64)
TINY_MASKED_WEIGHTS = torch.tensor([[0.6697615493, 0.3302384507, 0.0, 0.0],
                                    [0.2482550783, 0.5034898435, 0.2482550783, 0.0],
                                    [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)


def _diagnose_sdpa(got, q, k, v, mask, what: str) -> None:
    """Targeted messages for known mistakes, recognised with PyTorch's kernel at other settings."""
    d_k, d_v = q.shape[-1], v.shape[-1]
    candidates = [
        (dict(scale=1.0), "the scores are not scaled: divide q @ k^T by sqrt(d_k) (math.sqrt(q.shape[-1]))"),
        (dict(scale=1.0 / d_k), "the scores are divided by d_k; divide by its square root, sqrt(d_k)"),
    ]
    if d_v != d_k:
        candidates.append((dict(scale=1.0 / math.sqrt(d_v)),
                           "the scores are divided by sqrt(d_v) (the size of the values); the scale is sqrt(d_k), "
                           "the size of the queries and keys: q.shape[-1]"))
    for kwargs, message in candidates:
        if _matches(got, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)):
            raise CheckFailed(f"{what}: {message}")
    if mask is not None and mask.dtype == torch.bool and bool((~mask).any(-1).all()) and bool(mask.any(-1).all()):
        if _matches(got, F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)):
            raise CheckFailed(f"{what}: the mask is used the wrong way round: True means 'may attend', so fill the "
                              "scores where the mask is False (masked_fill(~mask, -inf))")


def _weights_of(q, k, mask) -> torch.Tensor:
    """The attention weights, from PyTorch's kernel: attending over the identity matrix as values
    returns the weights themselves (output row i = sum_j w_ij e_j)."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])
    return F.scaled_dot_product_attention(q, k, eye, attn_mask=mask)


@public_check("attention.scaled_dot_product_attention", timeout=30)
def check_scaled_dot_product_attention(impl) -> None:
    """scaled_dot_product_attention equals PyTorch's (no mask, boolean, additive, causal and padding masks), returns its weights, and has the right gradients."""
    softmax_right = _passes(check_softmax, impl)
    # If your softmax has a bug, its own check reports it; here it is held fixed (in graded runs)
    # and the gradients, which would flow through it, are not compared.
    held = contextlib.nullcontext() if softmax_right else _held(impl, "softmax")
    with held:
        what = ("scaled_dot_product_attention(q, k, v, return_weights=True) for the tiny example "
                "(n_q=3, n_k=4, d_k=2, d_v=3)")
        result = impl.scaled_dot_product_attention(TINY_Q, TINY_K, TINY_V, return_weights=True)
        expect(isinstance(result, (tuple, list)) and len(result) == 2,
               f"{what} returned a {type(result).__name__}; expected a pair (output, weights)")
        out, weights = result
        _tensor(out, (3, 3), torch.float32, f"{what}: the output")
        _tensor(weights, (3, 4), torch.float32, f"{what}: the weights")
        sums = weights.detach().double()
        if _matches(sums.sum(0), torch.ones(4)) and not _matches(sums.sum(-1), torch.ones(3)):
            raise CheckFailed(f"{what}: the weights' columns sum to 1 instead of their rows: each query's weights "
                              "over the keys must sum to 1, so take the softmax over the keys (dim=-1)")
        _diagnose_sdpa(out, TINY_Q, TINY_K, TINY_V, None, what)
        _close(weights, TINY_WEIGHTS.float(), f"{what}: the weights",
               "Expected softmax(q @ k^T / sqrt(d_k), dim=-1): one row per query, one column per key. Return the "
               "weights after the softmax, not the raw scores.")
        _close(out, TINY_OUT.float(), f"{what}: the output", SDPA_HINT)

        what = "scaled_dot_product_attention(q, k, v) for the tiny example"
        out = impl.scaled_dot_product_attention(TINY_Q, TINY_K, TINY_V)
        expect_type(out, torch.Tensor, f"{what} (without return_weights: the output alone)")
        _close(out, TINY_OUT.float(), what, SDPA_HINT)

        what = ("scaled_dot_product_attention(q, k, v, mask, return_weights=True) for the tiny example with the "
                "boolean mask [[T T F F], [T T T F], [F F F F]] (the last query may see no key)")
        out, weights = impl.scaled_dot_product_attention(TINY_Q, TINY_K, TINY_V, TINY_MASK, return_weights=True)
        expect(not torch.isnan(out).any() and not torch.isnan(weights).any(),
               f"{what} contains NaN: a fully masked row must give zero weights and a zero output (use your softmax, "
               "which handles rows that are all -inf, and fill the masked scores with -inf)")
        masked_weights = weights.detach().double()[~TINY_MASK]
        if bool((masked_weights.abs() > 1e-7).any()):
            if _matches(weights[:2], TINY_WEIGHTS[:2].float() * TINY_MASK[:2]):
                raise CheckFailed(f"{what}: the masked weights are zero but the others are the unmasked weights: the "
                                  "mask must be applied to the scores BEFORE the softmax, so that the remaining "
                                  "weights are renormalised to sum to 1")
            raise CheckFailed(f"{what}: a key the mask forbids got a weight of {float(masked_weights.abs().max()):.3g}; "
                              "masked keys must get weight exactly 0: fill their scores with -inf before the softmax")
        if _matches(weights[:2], TINY_WEIGHTS[:2].float() * TINY_MASK[:2]):
            raise CheckFailed(f"{what}: the mask is applied after the softmax; apply it to the scores before the "
                              "softmax, so that each row of weights still sums to 1")
        _close(weights, TINY_MASKED_WEIGHTS.float(), f"{what}: the weights",
               "Fill the scores where the mask is False with -inf before the softmax.")
        _close(out, TINY_MASKED_OUT.float(), f"{what}: the output", SDPA_HINT)

        # Against PyTorch's kernel: batched multi-head shapes, d_k != d_v, odd sizes.
        q, k, v = _randn(2, 3, 5, 6, seed=10), _randn(2, 3, 7, 6, seed=11), _randn(2, 3, 7, 5, seed=12)
        what = "scaled_dot_product_attention(q, k, v) with q (2, 3, 5, 6), k (2, 3, 7, 6), v (2, 3, 7, 5)"
        out = impl.scaled_dot_product_attention(q, k, v)
        _tensor(out, (2, 3, 5, 5), torch.float32, what)
        _diagnose_sdpa(out, q, k, v, None, what)
        _close(out, F.scaled_dot_product_attention(q, k, v), what, SDPA_HINT)

        bool_mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(13)) > 0.4
        bool_mask[:, 0] = True
        bool_mask[0, 1:] = False
        what = "scaled_dot_product_attention(q, k, v, mask) with the same shapes and a random boolean (5, 7) mask"
        out = impl.scaled_dot_product_attention(q, k, v, bool_mask)
        _diagnose_sdpa(out, q, k, v, bool_mask, what)
        _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=bool_mask), what,
               "True means 'may attend': the scores where the mask is False become -inf before the softmax.")

        additive = torch.where(bool_mask, _randn(5, 7, seed=14, scale=0.5), torch.tensor(NEG_INF))
        what = ("scaled_dot_product_attention(q, k, v, mask) with an additive float (5, 7) mask (small numbers "
                "where allowed, -inf where not)")
        out = impl.scaled_dot_product_attention(q, k, v, additive)
        _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=additive), what,
               "A float mask is ADDED to the scaled scores (not used as a True/False mask), before the softmax.")

        q3, k3, v3 = _randn(1, 3, 4, seed=15), _randn(1, 3, 4, seed=16), _randn(1, 3, 4, seed=17)
        what = "scaled_dot_product_attention(q, k, v, mask=[[T F F], [T T F], [T T T]]) (a causal mask), batch 1"
        out = impl.scaled_dot_product_attention(q3, k3, v3, torch.tensor([[T, F_, F_], [T, T, F_], [T, T, T]]))
        _close(out, F.scaled_dot_product_attention(q3, k3, v3, is_causal=True), what, SDPA_HINT)

        pad = torch.tensor([[T, T, T, F_, F_, F_, F_], [T, T, T, T, T, T, T]])[:, None, None, :]
        what = ("scaled_dot_product_attention(q, k, v, mask) with a padding mask of shape (2, 1, 1, 7) "
                "(sequence 0 has 3 real keys)")
        out = impl.scaled_dot_product_attention(q, k, v, pad)
        _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=pad), what,
               "The mask broadcasts against the scores (2, 3, 5, 7): padded keys get weight 0 for every query.")

        # Weights against PyTorch's kernel (attending over the identity matrix returns the weights).
        result = impl.scaled_dot_product_attention(q, k, v, bool_mask, return_weights=True)
        what = "scaled_dot_product_attention(q, k, v, mask, return_weights=True): the weights, shape (2, 3, 5, 7)"
        _tensor(result[1], (2, 3, 5, 7), torch.float32, what)
        _close(result[1], _weights_of(q, k, bool_mask), what, "Return the weights after the mask and the softmax.")

        q64, k64, v64 = (_randn(3, 5, 7, seed=s, dtype=torch.float64) for s in (18, 19, 20))
        what = "scaled_dot_product_attention(q, k, v) in float64 (3, 5, 7), d_k = 7"
        out = impl.scaled_dot_product_attention(q64, k64, v64)
        _tensor(out, (3, 5, 7), torch.float64, what)
        _close(out, F.scaled_dot_product_attention(q64, k64, v64), what,
               "In float64 the result must be accurate to float64 precision: keep the inputs' dtype throughout.",
               atol=1e-10, rtol=1e-10)

        device = get_device()
        out = impl.scaled_dot_product_attention(q.to(device), k.to(device), v.to(device), bool_mask.to(device))
        expect(out.device.type == device.type, f"scaled_dot_product_attention on {device} inputs returned a tensor "
               f"on {out.device}")

    if not softmax_right:
        return
    # Gradients, compared with PyTorch's (masked keys get no gradient; nothing NaN).
    grad_out = _randn(2, 3, 5, 5, seed=21)
    for mask, label in ((None, "no mask"), (bool_mask, "the boolean mask"), (additive, "the additive mask")):
        report = call_and_backward(impl.scaled_dot_product_attention, [q, k, v, mask], {}, grad_out, [0, 1, 2])
        what = f"the gradients of scaled_dot_product_attention(q, k, v, mask) with {label}"
        expect(report["differentiable"], f"{what}: the output does not require grad although q, k, v do: use "
               "differentiable torch operations (no .detach(), .data, numpy or torch.no_grad())")
        expect(not report["modified"], "scaled_dot_product_attention modified one of its inputs in place")
        inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
        F.scaled_dot_product_attention(*inputs, attn_mask=mask).backward(grad_out)
        for name, got, ref in zip("qkv", report["grads"], inputs):
            expect(got is not None, f"{what}: no gradient reached {name}: every step from q, k and v to the output "
                   "must stay connected (no .detach(), .data or torch.no_grad() on the scores or the weights)")
            _close(got, ref.grad, f"{what}: d/d{name}", "Build the whole computation from differentiable torch "
                   "operations, out of place (masked_fill, not masked_fill_ on a tensor autograd needs).",
                   atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# §4 split_heads, merge_heads
# ---------------------------------------------------------------------------------------------

# split_heads(torch.arange(12.).reshape(1, 2, 6), 3): head h of token t = features 2h, 2h+1 of t.
SPLIT_1_2_6_BY_3 = torch.tensor([[[[0.0, 1.0], [6.0, 7.0]], [[2.0, 3.0], [8.0, 9.0]], [[4.0, 5.0], [10.0, 11.0]]]])
# merge_heads(torch.arange(12.).reshape(1, 3, 2, 2)): token t = head 0, head 1, head 2 of t.
MERGE_1_3_2_2 = torch.tensor([[[0.0, 1.0, 4.0, 5.0, 8.0, 9.0], [2.0, 3.0, 6.0, 7.0, 10.0, 11.0]]])
# A known WRONG answer: the result of reshaping (1, 2, 6) straight to (1, 3, 2, 2) (no transpose).
SPLIT_WITHOUT_TRANSPOSE = torch.arange(12.0).reshape(1, 3, 2, 2)


@public_check("attention.heads", timeout=30)
def check_heads(impl) -> None:
    """split_heads gives each head its slice of every token's features (heads before tokens); merge_heads undoes it."""
    x = torch.arange(12.0).reshape(1, 2, 6)
    what = "split_heads(torch.arange(12.).reshape(1, 2, 6), 3) (2 tokens of 6 features, 3 heads of 2)"
    got = impl.split_heads(x, 3)
    _tensor(got, (1, 3, 2, 2), torch.float32, what)
    if _matches(got, SPLIT_WITHOUT_TRANSPOSE):
        raise CheckFailed(f"{what} returned {got.tolist()}, expected {SPLIT_1_2_6_BY_3.tolist()}: reshaping straight to "
                          "(B, n_heads, T, d_head) mixes the tokens up (head 0 got all of token 0's features). First "
                          "reshape to (B, T, n_heads, d_head), then swap the T and head axes with transpose(1, 2)")
    if _matches(got, x.reshape(1, 2, 2, 3).permute(0, 3, 1, 2)):
        raise CheckFailed(f"{what} returned {got.tolist()}, expected {SPLIT_1_2_6_BY_3.tolist()}: head h must get the "
                          "CONTIGUOUS features h*d_head .. (h+1)*d_head - 1 of each token, not every n_heads-th "
                          "feature: reshape the last axis to (n_heads, d_head), in that order")
    expect(torch.equal(got, SPLIT_1_2_6_BY_3), f"{what} returned {got.tolist()}, expected {SPLIT_1_2_6_BY_3.tolist()}: "
           "out[b, h, t] must be x[b, t, h*d_head:(h+1)*d_head]")

    what = "merge_heads(torch.arange(12.).reshape(1, 3, 2, 2)) (3 heads, 2 tokens, d_head 2)"
    got = impl.merge_heads(torch.arange(12.0).reshape(1, 3, 2, 2))
    _tensor(got, (1, 2, 6), torch.float32, what)
    if _matches(got, torch.arange(12.0).reshape(1, 2, 6)):
        raise CheckFailed(f"{what} returned {got.tolist()}, expected {MERGE_1_3_2_2.tolist()}: reshaping straight back "
                          "mixes the tokens up. First move the tokens in front of the heads (transpose(1, 2)), then "
                          "reshape to (B, T, n_heads * d_head)")
    expect(torch.equal(got, MERGE_1_3_2_2), f"{what} returned {got.tolist()}, expected {MERGE_1_3_2_2.tolist()}: "
           "token t must be the concatenation of head 0, head 1, ... of token t")

    # Any number of leading axes, round trip, odd sizes.
    x = _randn(2, 3, 5, 15, seed=30)
    what = "split_heads(x, 5) for x of shape (2, 3, 5, 15)"
    got = impl.split_heads(x, 5)
    _tensor(got, (2, 3, 5, 5, 3), torch.float32, what)
    _close(got[1, 2, 4, 3], x[1, 2, 3, 12:15], f"{what}[1, 2, 4, 3] (head 4 of token 3)",
           "Head h of token t must be x[..., t, h*d_head:(h+1)*d_head]; keep the leading axes as they are.")
    back = impl.merge_heads(got)
    _close(back, x, "merge_heads(split_heads(x, 5)) for x of shape (2, 3, 5, 15)", "merge_heads must undo split_heads.")

    # Gradients pass through (they are plain reshapes).
    grad_out = torch.arange(12.0).reshape(1, 3, 2, 2)
    report = call_and_backward(impl.split_heads, [torch.zeros(1, 2, 6), 3], {}, grad_out, [0])
    expect(report["differentiable"], "split_heads(x, 3) for an x that requires grad returned a tensor without a "
           "gradient: use reshape/view/transpose, which autograd follows")
    _close(report["grads"][0], MERGE_1_3_2_2, "the gradient of split_heads(x, 3) for x of shape (1, 2, 6)",
           "split_heads must only move numbers around.")


# ---------------------------------------------------------------------------------------------
# §5 MultiHeadAttention, compared with nn.MultiheadAttention loaded with the same weights
# ---------------------------------------------------------------------------------------------

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def torch_reference(d_model: int, n_heads: int, *, bias: bool = True, seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> tuple[nn.MultiheadAttention, dict]:
    """PyTorch's module with random weights (biases too) and the same weights in this course's
    layout ({"q_proj.weight": ..., ...}), to load into a MultiHeadAttention."""
    torch_mha = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True, dtype=dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in torch_mha.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) / math.sqrt(d_model))
    w_q, w_k, w_v = torch_mha.in_proj_weight.detach().chunk(3)
    state = {"q_proj.weight": w_q, "k_proj.weight": w_k, "v_proj.weight": w_v,
             "out_proj.weight": torch_mha.out_proj.weight.detach()}
    if bias:
        b_q, b_k, b_v = torch_mha.in_proj_bias.detach().chunk(3)
        state.update({"q_proj.bias": b_q, "k_proj.bias": b_k, "v_proj.bias": b_v,
                      "out_proj.bias": torch_mha.out_proj.bias.detach()})
    return torch_mha, {k: v.clone() for k, v in state.items()}


def torch_forward_backward(torch_mha: nn.MultiheadAttention, query, key, value, grad_out, *,
                           key_padding=None, causal=False) -> dict:
    """PyTorch's output, per-head weights and gradients (in this course's parameter names).
    `key_padding` is True at real keys (the course's convention); PyTorch's is the opposite."""
    query, key, value = (t.clone().requires_grad_(True) for t in (query, key, value))
    attn_mask = None
    if causal:  # self-attention only: PyTorch's own square causal mask (-inf above the diagonal)
        if query.shape[1] != key.shape[1]:
            raise ValueError("torch_forward_backward: causal needs as many queries as keys")
        attn_mask = torch.isinf(nn.Transformer.generate_square_subsequent_mask(query.shape[1]))  # True = blocked
    torch_mha.zero_grad(set_to_none=True)
    out, weights = torch_mha(query, key, value, key_padding_mask=None if key_padding is None else ~key_padding,
                             attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
    out.backward(grad_out)
    grads = dict(zip(("q_proj.weight", "k_proj.weight", "v_proj.weight"), torch_mha.in_proj_weight.grad.chunk(3)))
    grads["out_proj.weight"] = torch_mha.out_proj.weight.grad
    if torch_mha.in_proj_bias is not None:
        grads.update(zip(("q_proj.bias", "k_proj.bias", "v_proj.bias"), torch_mha.in_proj_bias.grad.chunk(3)))
        grads["out_proj.bias"] = torch_mha.out_proj.bias.grad
    return {"out": out.detach(), "weights": weights.detach(), "query_grad": query.grad, "key_grad": key.grad,
            "value_grad": value.grad, "param_grads": grads}


def _call_with_advice(function, what: str, advice: str):
    """Call the learner's code; a shape error becomes a failure with `advice` (not a crash report)."""
    try:
        return function()
    except StudentError as err:
        if err.not_implemented or not err.is_a("RuntimeError"):
            raise
        raise CheckFailed(f"{what} raised {err.type_name}: {err.message[:200]}{err.where}. {advice}") from None


def load_weights(mha, state: dict, what: str) -> None:
    """Load the course-layout `state` into the learner's module, with a clear message on failure."""
    try:
        mha.load_state_dict(state)
    except StudentError as err:
        if err.not_implemented:
            raise
        raise CheckFailed(f"{what}.load_state_dict(...) with the keys {sorted(state)} failed ({err.type_name}: "
                          f"{err.message[:300]}): the module must hold exactly four nn.Linear layers named q_proj, "
                          "k_proj, v_proj and out_proj (with biases when bias=True)") from None


def compare_with_torch(got: dict, expected: dict, what: str, *, grads: bool, atol: float, value_grads=True) -> None:
    """Outputs, then (if `grads`) input and parameter gradients."""
    out = _first_tensor(got["out"])
    _close(out, expected["out"], f"{what}: the output",
           "Compare with nn.MultiheadAttention: q/k/v projections, split into heads, attention per head, merge, "
           "out_proj.", atol=atol, rtol=atol)
    if not grads:
        return
    expect(got["differentiable"], f"{what}: the output does not require grad: build it from the projections with "
           "differentiable operations")
    names = [("query_grad", 0)] + ([("key_grad", 1), ("value_grad", 2)] if value_grads else [])
    for name, index in names:
        _close(got["input_grads"][index], expected[name], f"{what}: the gradient with respect to the "
               f"{name.split('_')[0]}", "Gradients flow through every projection; check which input each one reads.",
               atol=atol, rtol=atol)
    for name, expected_grad in expected["param_grads"].items():
        _close(got["param_grads"].get(name), expected_grad, f"{what}: the gradient of {name}",
               f"{name.split('.')[0]} must be used exactly where nn.MultiheadAttention uses it.", atol=atol, rtol=atol)


@public_check("attention.multi_head", timeout=60)
def check_multi_head(impl) -> None:
    """MultiHeadAttention holds q/k/v/out projections and equals nn.MultiheadAttention with the same weights: self and cross attention, masks, weights and gradients, float32 and float64."""
    heads_right = _passes(check_heads, impl)
    # Bugs in the earlier exercises are reported by their own checks: here the masks and your
    # scaled_dot_product_attention are held fixed (in graded runs), and so are split_heads and
    # merge_heads if their check fails (then gradients, which would flow through them, are not compared).
    fixed = ["causal_mask", "padding_mask", "scaled_dot_product_attention", "softmax"]
    if not heads_right:
        fixed += ["split_heads", "merge_heads"]
    with _held(impl, *fixed):
        what = "MultiHeadAttention(12, 3)"
        mha = impl.MultiHeadAttention(12, 3)
        summary = module_summary(mha)
        expect(summary["is_module"], f"{what} is not an nn.Module: subclass nn.Module and call super().__init__()")
        expect(summary["distinct"], f"{what}: two of q_proj, k_proj, v_proj, out_proj are the same layer: create "
               "four separate nn.Linear layers, each with its own weights")
        for name in PROJECTIONS:
            expect(summary["linear"][name], f"{what}.{name} is missing or not an nn.Linear: create "
                   f"self.{name} = nn.Linear(d_model, d_model, bias=bias) in __init__")
            expect_equal(summary["params"].get(f"{name}.weight"), [12, 12], f"{what}.{name}.weight.shape (as a list)")
        expect(all(summary["has_bias"].values()), f"{what}: with bias=True (the default) every projection has a bias")
        expect_equal(len(summary["params"]), 8, f"the number of parameter tensors of {what} (4 weights + 4 biases)")
        no_bias = module_summary(impl.MultiHeadAttention(12, 3, bias=False))
        expect(not any(no_bias["has_bias"].values()) and len(no_bias["params"]) == 4,
               "MultiHeadAttention(12, 3, bias=False) still has biases: pass bias=bias to each nn.Linear")

        # Self-attention, float32, against PyTorch with the same weights.
        torch_mha, state = torch_reference(12, 3, seed=1)
        load_weights(mha, state, what)
        x = _randn(2, 5, 12, seed=40)
        grad_out = _randn(2, 5, 12, seed=41)
        expected = torch_forward_backward(torch_mha, x, x, x, grad_out)
        got = module_forward_backward(mha, [x, x, x], {}, grad_out)
        compare_with_torch(got, expected, f"self-attention {what}(x, x, x), x of shape (2, 5, 12)",
                           grads=heads_right, atol=1e-5)
        plain = mha(x)
        _close(plain, expected["out"], f"self-attention {what}(x) (key and value default to the query)",
               "When key is None the module attends from x to x itself.", atol=1e-5)

        # Cross-attention: 3 queries, 7 keys, batch 1, d_head = 5 (odd), separate key and value, float64.
        what = "MultiHeadAttention(15, 3) in float64"
        mha64 = impl.MultiHeadAttention(15, 3)
        mha64.to(torch.float64)
        torch64, state64 = torch_reference(15, 3, seed=2, dtype=torch.float64)
        load_weights(mha64, state64, what)
        query, key, value = (_randn(1, n, 15, seed=s, dtype=torch.float64) for n, s in ((3, 42), (7, 43), (7, 44)))
        grad_out = _randn(1, 3, 15, seed=45, dtype=torch.float64)
        expected = torch_forward_backward(torch64, query, key, value, grad_out)
        got = module_forward_backward(mha64, [query, key, value], {}, grad_out)
        compare_with_torch(got, expected, f"cross-attention {what}(query (1, 3, 15), key (1, 7, 15), value (1, 7, 15))",
                           grads=heads_right, atol=1e-10)

        # A padding mask over the keys (key_mask): first with as many queries as keys, then fewer.
        key_mask = torch.tensor([[T] * 6, [T, T] + [F_] * 4])
        key_mask_hint = ("key_mask hides KEYS (the columns of the scores) from every query: give it the shape "
                         "(B, 1, 1, T_k) with key_mask[:, None, None, :]; the padded queries still attend to the real keys.")
        x6 = _randn(2, 6, 12, seed=49)
        expected = torch_forward_backward(torch_mha, x6, x6, x6, _randn(2, 6, 12, seed=50), key_padding=key_mask)
        what = "MultiHeadAttention(12, 3)(x (2, 6, 12), key_mask=padding_mask([6, 2]))"
        _close(_call_with_advice(lambda: mha(x6, key_mask=key_mask), what, key_mask_hint), expected["out"], what,
               key_mask_hint, atol=1e-5)
        what = "MultiHeadAttention(12, 3)(query (2, 4, 12), key (2, 6, 12), key_mask=padding_mask([6, 2]))"
        query, key = _randn(2, 4, 12, seed=46), _randn(2, 6, 12, seed=47)
        expected = torch_forward_backward(torch_mha, query, key, key, _randn(2, 4, 12, seed=48), key_padding=key_mask)
        got = _call_with_advice(lambda: mha(query, key, key, key_mask=key_mask), what, key_mask_hint)
        _close(got, expected["out"], what, key_mask_hint, atol=1e-5)

        # Causal self-attention, and the same through your own attention (use_fast_path = False).
        what = "MultiHeadAttention(12, 3)(x (2, 5, 12), is_causal=True)"
        expected = torch_forward_backward(torch_mha, x, x, x, _randn(2, 5, 12, seed=51), causal=True)
        _close(mha(x, is_causal=True), expected["out"], what, "The fast path takes care of the mask; check the "
               "projections and heads.", atol=1e-5)
        mha.use_fast_path = False
        _close(mha(x, is_causal=True), expected["out"], f"{what} with use_fast_path = False",
               "Both paths must give the same output.", atol=1e-5)
        mha.use_fast_path = True

        # The weights of every head, against PyTorch's (average_attn_weights=False).
        what = "MultiHeadAttention(12, 3)(query (2, 4, 12), key (2, 6, 12), return_weights=True)"
        expected = torch_forward_backward(torch_mha, query, key, key, _randn(2, 4, 12, seed=52))
        result = mha(query, key, return_weights=True)
        expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} must return (output, weights)")
        _tensor(result[1], (2, 3, 4, 6), torch.float32, f"{what}: the weights")
        _close(result[1], expected["weights"], f"{what}: the weights of each head",
               "Head h must attend with the h-th slice of the projected queries and keys.", atol=1e-5)
        _close(result[0], expected["out"], f"{what}: the output", atol=1e-5)

        # bias=False.
        torch_nb, state_nb = torch_reference(12, 4, bias=False, seed=3)
        mha_nb = impl.MultiHeadAttention(12, 4, bias=False)
        load_weights(mha_nb, state_nb, "MultiHeadAttention(12, 4, bias=False)")
        expected = torch_forward_backward(torch_nb, x, x, x, _randn(2, 5, 12, seed=53))
        _close(mha_nb(x), expected["out"], "MultiHeadAttention(12, 4, bias=False)(x), x of shape (2, 5, 12)",
               "Without biases the projections are plain matrix products.", atol=1e-5)
