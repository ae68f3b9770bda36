"""Hidden checks for notebook 04 (attention): fresh random sizes and inputs, edge cases, and
comparisons with full implementations (the ORACLES below, and PyTorch's own attention).

Judge side only: nothing here reaches the worker except the inputs of each call. The oracles
are also used by `hold_fixed`, so that a bug in one exercise costs that exercise only.
"""

from __future__ import annotations

import contextlib
import math
import random

import torch
import torch.nn.functional as F

from course_lib.checks.attention import (
    NEG_INF,
    call_and_backward,
    check_heads,
    check_softmax,
    compare_with_torch,
    incremental_forward,
    load_weights,
    module_forward_backward,
    torch_forward_backward,
    torch_reference,
)
from course_lib.checks.framework import (
    CheckFailed,
    StudentError,
    expect,
    expect_close,
    expect_equal,
    expect_type,
    hidden_check,
    hold_fixed,
)

# ---------------------------------------------------------------------------------------------
# Oracles: correct implementations of the exercises (plain data in, plain data out)
# ---------------------------------------------------------------------------------------------


def oracle_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """PyTorch's softmax, with fully masked slices (all -inf) set to zeros."""
    out = torch.softmax(x, dim=dim)
    fully_masked = (x == NEG_INF).all(dim=dim, keepdim=True)
    return out.masked_fill(fully_masked, 0.0)


def oracle_causal_mask(n_q: int, n_k: int | None = None, *, device=None) -> torch.Tensor:
    n_k = n_q if n_k is None else n_k
    if n_q < 0 or n_k < 0:
        raise ValueError("sizes must be >= 0")
    rows = torch.arange(n_q, device=device)[:, None] + (n_k - n_q)
    return torch.arange(n_k, device=device)[None, :] <= rows


def oracle_padding_mask(lengths, max_len: int | None = None) -> torch.Tensor:
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.is_floating_point():
        raise ValueError("lengths must be 1-D integers")
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError("lengths must be >= 0")
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else max_len
    if longest > max_len:
        raise ValueError("a sequence is longer than max_len")
    return torch.stack([torch.arange(max_len, device=lengths.device) < n for n in lengths]) if lengths.numel() \
        else torch.zeros(0, max_len, dtype=torch.bool, device=lengths.device)


def oracle_sdpa(q, k, v, mask=None, *, return_weights=False):
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.einsum("...id,...jd->...ij", q, k) * scale
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask.to(scores.device), NEG_INF)
        else:
            scores = scores + mask.to(device=scores.device, dtype=scores.dtype)
    weights = oracle_softmax(scores, dim=-1)
    out = torch.einsum("...ij,...jd->...id", weights, v)
    return (out, weights) if return_weights else out


def oracle_split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    d_head = x.shape[-1] // n_heads
    pieces = [x[..., h * d_head:(h + 1) * d_head] for h in range(n_heads)]
    return torch.stack(pieces, dim=-3)


def oracle_merge_heads(x: torch.Tensor) -> torch.Tensor:
    return torch.cat(list(x.unbind(dim=-3)), dim=-1)


ORACLES = {
    "softmax": oracle_softmax,
    "causal_mask": oracle_causal_mask,
    "padding_mask": oracle_padding_mask,
    "scaled_dot_product_attention": oracle_sdpa,
    "split_heads": oracle_split_heads,
    "merge_heads": oracle_merge_heads,
}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _close(got, expected, what: str, hint: str, atol: float = 1e-5) -> None:
    try:
        expect_close(got, expected, what, atol=atol, rtol=atol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}") from None


def _matches(got, candidate, atol: float = 1e-5) -> bool:
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g, c = got.detach().double().cpu(), candidate.detach().double().cpu()
    return bool(torch.isfinite(g).all()) and bool(((g - c).abs() <= atol + 1e-5 * c.abs()).all())


def _passes(check_function, impl) -> bool:
    try:
        check_function(impl)
    except (CheckFailed, StudentError):
        return False
    return True


def _randn(shape, generator, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------------------------------------
# §1 softmax
# ---------------------------------------------------------------------------------------------


@hidden_check("attention.softmax")
def hidden_softmax_random(impl) -> None:
    """Random shapes, axes, magnitudes, masked entries and fully masked slices, float32 and float64."""
    rng = random.Random(404)
    generator = torch.Generator().manual_seed(404)
    for trial in range(6):
        ndim = rng.randint(1, 4)
        shape = [rng.randint(1, 6) for _ in range(ndim)]
        dim = rng.randrange(-ndim, ndim)
        dtype = torch.float64 if trial % 2 else torch.float32
        x = _randn(shape, generator, dtype, scale=rng.choice([1.0, 30.0, 300.0]))
        x = x.masked_fill(torch.rand(shape, generator=generator) < 0.3, NEG_INF)
        if trial % 3 == 0:  # one slice along dim entirely -inf (a fully masked row)
            index = tuple(slice(None) if d == dim % ndim else 0 for d in range(ndim))
            x[index] = NEG_INF
        what = f"softmax(x, dim={dim}) for x of shape {tuple(shape)} ({dtype}, with -inf entries)"
        out = impl.softmax(x, dim=dim)
        expect_type(out, torch.Tensor, what)
        expect(out.dtype == dtype, f"{what} has dtype {out.dtype}, expected {dtype}")
        expect(not torch.isnan(out).any(), f"{what} contains NaN: subtract the maximum, and make an all -inf slice "
               "give zeros")
        if dim % ndim != (ndim - 1) and _matches(out, oracle_softmax(x, dim=-1)):
            raise CheckFailed(f"{what} normalised along the last axis; use the `dim` argument")
        _close(out, oracle_softmax(x, dim=dim), what, "Expected exp(x - max) / sum(exp(x - max)) along dim, zeros "
               "for a slice that is entirely -inf.", 1e-6 if dtype == torch.float32 else 1e-12)


@hidden_check("attention.softmax")
def hidden_softmax_edges(impl) -> None:
    """Huge and tiny scores, one element, a non-contiguous input, and gradients on random inputs."""
    cases = [
        (torch.tensor([[3.0e4, 2.99e4, -3.0e4]]), "huge scores"),
        (torch.tensor([[-1.0e4, -1.0e4 - 1.0, -1.0e4 - 2.0]]), "very negative scores (exp underflows)"),
        (torch.tensor([[5.0]]), "a single element"),
        (torch.arange(12.0).reshape(3, 4).t(), "a non-contiguous (transposed) input"),
        (torch.full((2, 3), NEG_INF, dtype=torch.float64), "all entries -inf"),
    ]
    for x, label in cases:
        what = f"softmax(x) for {label}, x = {x.tolist()}"
        out = impl.softmax(x)
        _close(out, oracle_softmax(x), what, "Subtract the row maximum first; all -inf rows give zeros.", 1e-6)
    generator = torch.Generator().manual_seed(5)
    x = _randn((4, 3, 5), generator, torch.float64, 3.0)
    x[0, 1] = NEG_INF
    grad_out = _randn((4, 3, 5), generator, torch.float64)
    report = call_and_backward(impl.softmax, [x], {"dim": 1}, grad_out, [0])
    expect(report["differentiable"], "softmax(x, dim=1) returned no gradient for an x that requires grad")
    reference = x.clone().requires_grad_(True)
    torch.softmax(reference, dim=1).backward(grad_out)
    _close(report["grads"][0], reference.grad, "the gradient of softmax(x, dim=1) for x of shape (4, 3, 5), float64",
           "The gradient must be the softmax's own (build it from differentiable operations).", 1e-10)


# ---------------------------------------------------------------------------------------------
# §2 masks
# ---------------------------------------------------------------------------------------------


@hidden_check("attention.masks")
def hidden_masks_random(impl) -> None:
    """causal_mask for random n_q <= n_k, n_q > n_k and empty sizes; padding_mask for random lengths."""
    rng = random.Random(7)
    sizes = [(rng.randint(1, 9), None) for _ in range(3)] + [(n, n + rng.randint(1, 6)) for n in (1, 3, 6)]
    sizes += [(5, 2), (0, 3), (3, 0)]
    for n_q, n_k in sizes:
        args = f"{n_q}" if n_k is None else f"{n_q}, {n_k}"
        got = impl.causal_mask(n_q) if n_k is None else impl.causal_mask(n_q, n_k)
        expected = oracle_causal_mask(n_q, n_k)
        expect_type(got, torch.Tensor, f"causal_mask({args})")
        expect(got.dtype == torch.bool, f"causal_mask({args}) has dtype {got.dtype}, expected torch.bool")
        expect_equal(tuple(got.shape), tuple(expected.shape), f"causal_mask({args}).shape")
        expect(torch.equal(got, expected), f"causal_mask({args}) returned {got.int().tolist()}, expected "
               f"{expected.int().tolist()} (1 = True): query i sits at position i + n_k - n_q and sees the keys up "
               "to that position")
    for _ in range(4):
        batch = rng.randint(1, 5)
        lengths = [rng.randint(0, 8) for _ in range(batch)]
        max_len = rng.choice([None, max(lengths) + rng.randint(0, 3)])
        as_tensor = rng.random() < 0.5
        arg = torch.tensor(lengths, dtype=rng.choice([torch.int64, torch.int32])) if as_tensor else lengths
        call = f"padding_mask({'torch.tensor(' if as_tensor else ''}{lengths}{')' if as_tensor else ''}" + \
            (f", max_len={max_len})" if max_len is not None else ")")
        got = impl.padding_mask(arg) if max_len is None else impl.padding_mask(arg, max_len=max_len)
        expected = oracle_padding_mask(lengths, max_len)
        expect_type(got, torch.Tensor, call)
        expect(got.dtype == torch.bool, f"{call} has dtype {got.dtype}, expected torch.bool")
        expect_equal(tuple(got.shape), tuple(expected.shape), f"{call}.shape")
        expect(torch.equal(got, expected), f"{call} returned {got.int().tolist()}, expected {expected.int().tolist()}")


# ---------------------------------------------------------------------------------------------
# §3 scaled dot-product attention
# ---------------------------------------------------------------------------------------------


def _sdpa_mistakes(q, k, v, mask) -> list[tuple[torch.Tensor, str]]:
    d_k = q.shape[-1]
    scores = torch.einsum("...id,...jd->...ij", q.double(), k.double())
    masked = scores / math.sqrt(d_k)
    if mask is not None:
        masked = masked.masked_fill(~mask, NEG_INF) if mask.dtype == torch.bool else masked + mask.double()
    mistakes = [
        (torch.softmax(masked, dim=-2).nan_to_num(0.0) @ v.double(),
         "the softmax runs over the queries (dim=-2); it must run over the keys (dim=-1), so that each query's "
         "weights sum to 1"),
    ]
    if mask is not None and mask.dtype == torch.bool:
        after = torch.softmax(scores / math.sqrt(d_k), dim=-1) * mask
        mistakes.append((after @ v.double(), "the mask is applied after the softmax; apply it to the scores "
                         "before, so that the remaining weights are renormalised"))
        big = (scores / math.sqrt(d_k)).masked_fill(~mask, -1e9)
        mistakes.append((torch.softmax(big, dim=-1) @ v.double(), "a query whose keys are all masked must get zero "
                         "weights and a zero output: fill with -inf (not a large negative number) and let your "
                         "softmax turn an all -inf row into zeros"))
    return mistakes


@hidden_check("attention.scaled_dot_product_attention")
def hidden_sdpa_random(impl) -> None:
    """Random batch/head shapes, n_q = 1, d_k = 1 or odd, masks of every broadcast shape, float32 and float64, against PyTorch and the formula."""
    softmax_right = _passes(check_softmax, impl)
    held = contextlib.nullcontext() if softmax_right else hold_fixed("attention", impl, "softmax")
    rng = random.Random(2024)
    generator = torch.Generator().manual_seed(2024)
    with held:
        for trial in range(7):
            lead = [rng.randint(1, 3) for _ in range(rng.randint(0, 3))]
            n_q, n_k = rng.choice([1, 2, 5, 9]), rng.choice([1, 3, 6, 11])
            d_k, d_v = rng.choice([1, 3, 7, 12]), rng.choice([2, 5, 8])
            dtype = torch.float64 if trial % 2 else torch.float32
            q = _randn(lead + [n_q, d_k], generator, dtype, 1.5)
            k = _randn(lead + [n_k, d_k], generator, dtype, 1.5)
            v = _randn(lead + [n_k, d_v], generator, dtype)
            kind = trial % 4
            mask = None
            if kind == 1:
                mask = torch.rand(n_q, n_k, generator=generator) > 0.5
            elif kind == 2 and lead:
                mask = torch.rand(*lead[:1], *([1] * (len(lead) - 1)), 1, n_k, generator=generator) > 0.3
            elif kind == 3:
                allowed = torch.rand(lead + [n_q, n_k], generator=generator) > 0.3
                mask = torch.where(allowed, _randn(lead + [n_q, n_k], generator, dtype, 0.3),
                                   torch.tensor(NEG_INF, dtype=dtype))
            shape_text = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, {dtype}"
            mask_text = "no mask" if mask is None else f"{'boolean' if mask.dtype == torch.bool else 'additive'} " \
                f"mask {tuple(mask.shape)}"
            what = f"scaled_dot_product_attention({shape_text}, {mask_text}, return_weights=True)"
            result = impl.scaled_dot_product_attention(q, k, v, mask, return_weights=True)
            expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} must return (output, weights)")
            out, weights = result
            expected_out, expected_weights = oracle_sdpa(q, k, v, mask, return_weights=True)
            atol = 1e-5 if dtype == torch.float32 else 1e-10
            expect(isinstance(out, torch.Tensor) and out.dtype == dtype, f"{what}: the output must be a {dtype} tensor")
            expect(not torch.isnan(out).any(), f"{what}: the output contains NaN (a fully masked query must get a "
                   "zero output)")
            for candidate, message in _sdpa_mistakes(q, k, v, mask):
                if not _matches(candidate, expected_out.double(), 1e-6) and _matches(out, candidate, 1e-5):
                    raise CheckFailed(f"{what}: {message}")
            _close(out, expected_out, f"{what}: the output", "Expected softmax(q k^T / sqrt(d_k) + mask) v.", atol)
            _close(weights, expected_weights, f"{what}: the weights", "Return the weights after the mask and softmax.",
                   atol)
            if mask is None or mask.dtype != torch.bool or bool(mask.any(-1).all()):
                _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), f"{what} vs PyTorch's kernel",
                       "Expected the same as F.scaled_dot_product_attention.", atol)
            plain = impl.scaled_dot_product_attention(q, k, v, mask)
            expect(isinstance(plain, torch.Tensor), f"without return_weights, {what.split('(')[0]} must return the "
                   "output tensor alone")


@hidden_check("attention.scaled_dot_product_attention")
def hidden_sdpa_gradients(impl) -> None:
    """Gradients in float64 with masks and fully masked rows, against PyTorch's kernel; inputs never modified."""
    if not _passes(check_softmax, impl):
        return  # reported by the softmax check; gradients would flow through it
    generator = torch.Generator().manual_seed(77)
    q, k, v = (_randn((2, 2, n, 5), generator, torch.float64) for n in (4, 6, 6))
    mask = torch.rand(2, 1, 4, 6, generator=generator) > 0.4
    mask[0, 0, 2] = False  # a fully masked query in the first sequence
    grad_out = _randn((2, 2, 4, 5), generator, torch.float64)
    report = call_and_backward(impl.scaled_dot_product_attention, [q, k, v, mask], {}, grad_out, [0, 1, 2])
    what = "the gradients of scaled_dot_product_attention(q, k, v, mask) in float64 with a fully masked query"
    expect(report["differentiable"], f"{what}: the output does not require grad")
    expect(not report["modified"], "scaled_dot_product_attention modified one of its inputs in place")
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    oracle_sdpa(*inputs, mask).backward(grad_out)
    for name, got, ref in zip("qkv", report["grads"], inputs):
        expect(isinstance(got, torch.Tensor) and not torch.isnan(got).any(), f"{what}: d/d{name} is missing or NaN")
        _close(got, ref.grad, f"{what}: d/d{name}", "A fully masked query gets no gradient; the others as usual.",
               1e-9)


# ---------------------------------------------------------------------------------------------
# §4 heads
# ---------------------------------------------------------------------------------------------


@hidden_check("attention.heads")
def hidden_heads_random(impl) -> None:
    """Random shapes and head counts (1 head, d_head = 1, extra leading axes), round trips, float64."""
    rng = random.Random(11)
    generator = torch.Generator().manual_seed(11)
    for trial in range(6):
        n_heads = rng.choice([1, 2, 3, 5, 8])
        d_head = rng.choice([1, 2, 3, 7])
        lead = [rng.randint(1, 3) for _ in range(rng.randint(1, 3))]
        seq = rng.randint(1, 7)
        dtype = torch.float64 if trial % 2 else torch.float32
        x = _randn(lead + [seq, n_heads * d_head], generator, dtype)
        what = f"split_heads(x, {n_heads}) for x of shape {tuple(x.shape)}"
        got = impl.split_heads(x, n_heads)
        expect_type(got, torch.Tensor, what)
        expect(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype}")
        _close(got, oracle_split_heads(x, n_heads), what, "out[..., h, t, :] must be x[..., t, h*d_head:(h+1)*d_head].",
               0.0)
        heads = _randn(lead + [n_heads, seq, d_head], generator, dtype)
        what = f"merge_heads(x) for x of shape {tuple(heads.shape)}"
        got = impl.merge_heads(heads)
        _close(got, oracle_merge_heads(heads), what, "Token t must be the concatenation of its heads, head 0 first.",
               0.0)


# ---------------------------------------------------------------------------------------------
# §5 multi-head attention
# ---------------------------------------------------------------------------------------------


def _fixed_for_mha(impl) -> tuple[list[str], bool]:
    heads_right = _passes(check_heads, impl)
    names = ["causal_mask", "padding_mask", "scaled_dot_product_attention", "softmax"]
    if not heads_right:
        names += ["split_heads", "merge_heads"]
    return names, heads_right


@hidden_check("attention.multi_head", timeout=60)
def hidden_multi_head_random(impl) -> None:
    """Random sizes (1 head, d_head odd, batch 1), self and cross attention, masks combined, float32 and float64, outputs and gradients against nn.MultiheadAttention."""
    fixed, heads_right = _fixed_for_mha(impl)
    rng = random.Random(31)
    generator = torch.Generator().manual_seed(31)
    configs = [(8, 2), (21, 7), (6, 1), (10, 10), (20, 4)]
    with hold_fixed("attention", impl, *fixed):
        for trial, (d_model, n_heads) in enumerate(configs):
            dtype = torch.float64 if trial % 2 else torch.float32
            batch, n_q = rng.choice([1, 2, 3]), rng.choice([1, 4, 7])
            cross = trial % 2 == 0
            n_k = rng.choice([2, 5, 9]) if cross else n_q
            bias = trial != 3
            torch_mha, state = torch_reference(d_model, n_heads, bias=bias, seed=100 + trial, dtype=dtype)
            what = f"MultiHeadAttention({d_model}, {n_heads}{'' if bias else ', bias=False'}) in {dtype}"
            mha = impl.MultiHeadAttention(d_model, n_heads, bias=bias)
            mha.to(dtype)
            load_weights(mha, state, what)
            query = _randn((batch, n_q, d_model), generator, dtype)
            key = _randn((batch, n_k, d_model), generator, dtype) if cross else query
            value = _randn((batch, n_k, d_model), generator, dtype) if cross else query
            grad_out = _randn((batch, n_q, d_model), generator, dtype)
            key_padding = None
            if trial in (2, 4):
                lengths = [rng.randint(1, n_k) for _ in range(batch)]
                key_padding = oracle_padding_mask(lengths, n_k)
            causal = not cross and trial == 1
            expected = torch_forward_backward(torch_mha, query, key, value, grad_out, key_padding=key_padding,
                                              causal=causal)
            kwargs = {"is_causal": causal}
            if key_padding is not None:
                kwargs["key_mask"] = key_padding
            got = module_forward_backward(mha, [query, key, value], kwargs, grad_out)
            label = (f"{what}, {'cross' if cross else 'self'}-attention, batch {batch}, T_q {n_q}, T_k {n_k}"
                     f"{', causal' if causal else ''}{', key_mask' if key_padding is not None else ''}")
            compare_with_torch(got, expected, label, grads=heads_right,
                               atol=1e-5 if dtype == torch.float32 else 1e-10)
            result = mha(query, key, value, return_weights=True, **kwargs)
            _close(result[1], expected["weights"], f"{label}: the weights (return_weights=True)",
                   "One weight map per head, (B, n_heads, T_q, T_k).", 1e-5 if dtype == torch.float32 else 1e-10)


@hidden_check("attention.multi_head", timeout=60)
def hidden_multi_head_masks_and_cache(impl) -> None:
    """A mask combined with key_mask and is_causal, an additive mask, eval-mode dropout, and the KV cache (incremental == full)."""
    fixed, _ = _fixed_for_mha(impl)
    generator = torch.Generator().manual_seed(55)
    with hold_fixed("attention", impl, *fixed):
        torch_mha, state = torch_reference(12, 4, seed=55)
        mha = impl.MultiHeadAttention(12, 4, dropout=0.3)
        load_weights(mha, state, "MultiHeadAttention(12, 4, dropout=0.3)")
        mha.eval()
        x = _randn((2, 6, 12), generator)
        key_padding = oracle_padding_mask([6, 4], 6)
        expected = torch_forward_backward(torch_mha, x, x, x, torch.zeros(2, 6, 12), key_padding=key_padding,
                                          causal=True)
        what = "MultiHeadAttention(12, 4, dropout=0.3).eval()(x (2, 6, 12), key_mask=padding_mask([6, 4]), is_causal=True)"
        _close(mha(x, key_mask=key_padding, is_causal=True), expected["out"], what,
               "key_mask and is_causal must both apply; dropout is off in eval mode.", 1e-5)
        additive = torch.zeros(6, 6).masked_fill(~oracle_causal_mask(6), NEG_INF)
        _close(mha(x, mask=additive, key_mask=key_padding), expected["out"],
               "the same with the causal mask given as an additive (6, 6) mask",
               "An additive mask and key_mask combine.", 1e-5)
        bool_mask = oracle_causal_mask(6)[None, None]
        _close(mha(x, mask=bool_mask, key_mask=key_padding), expected["out"],
               "the same with the causal mask given as a boolean (1, 1, 6, 6) mask", "A boolean mask and key_mask "
               "combine.", 1e-5)

        # KV cache: feeding the tokens in pieces gives the same outputs as one causal pass.
        full = mha(x, is_causal=True)
        report = incremental_forward(mha, x, [3, 1, 2], {"is_causal": True})
        outs = report["outs"]
        expect(isinstance(outs, list) and len(outs) == 3 and all(isinstance(o, torch.Tensor) for o in outs),
               "forward with kv_cache must return the output tensor of the new tokens")
        _close(torch.cat(outs, dim=1), full, "MultiHeadAttention fed 3, 1 then 2 tokens with one kv_cache and "
               "is_causal=True", "With a cache, forward on the new tokens must equal the full causal forward.", 1e-5)
        expect_equal(report["cache_shapes"].get("k"), [2, 4, 6, 3], "the shape of kv_cache['k'] after 6 tokens")

