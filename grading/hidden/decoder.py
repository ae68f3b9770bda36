"""Hidden checks for notebook 06 (the decoder): other sizes, random inputs, float64, devices, edge
cases, and comparisons with full oracles. Instructor side only; they run in the judge.

`ORACLES` holds correct versions of the plain-data exercises (next_token_probs, the filters,
sample_next_token), used by `hold_fixed` so that a bug in one of them costs its own check only.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from course_lib.checks.decoder import (
    BLOCK_NAMES,
    CHI2_LIMIT,
    DECODER_NAMES,
    NEG_INF,
    _chi_square,
    _close,
    _compare_grads,
    _describe_options,
    _expect_forward_report,
    _expect_parts,
    _fill_,
    _filter_call,
    _fmt,
    _gpt,
    _grads_under_our_names,
    _lengths_mask,
    _load,
    _randn,
    _renamed,
    _torch_block_run,
    _torch_decoder_run,
    _type_of,
    block_forward_backward,
    cached_steps,
    decoder_layer_forward_backward,
    gpt_facts,
    gpt_trace,
    parameter_report,
    sample_with_seed,
)
from course_lib.checks.framework import CheckFailed, expect, expect_equal, hidden_check, hold_fixed
from course_lib.device import get_device

# ---------------------------------------------------------------------------------------------
# Oracles (plain data in, plain data out)
# ---------------------------------------------------------------------------------------------


def _oracle_probs(logits, temperature=1.0):
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits if logits.dtype == torch.float64 else logits.float()
    return torch.softmax(logits / temperature, dim=-1)


def _oracle_top_k(logits, k):
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if k >= logits.shape[-1]:
        return logits.clone()
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], True)
    return logits.masked_fill(~keep, NEG_INF)


def _oracle_top_p(logits, p):
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if p == 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    drop_sorted = (probs.cumsum(-1) - probs) >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def _oracle_sample(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = (logits if logits.dtype == torch.float64 else logits.float()) / temperature
    if top_k is not None:
        scaled = _oracle_top_k(scaled, top_k)
    if top_p is not None:
        scaled = _oracle_top_p(scaled, top_p)
    probs = torch.softmax(scaled, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


ORACLES = {
    "next_token_probs": _oracle_probs,
    "top_k_filter": _oracle_top_k,
    "top_p_filter": _oracle_top_p,
    "sample_next_token": _oracle_sample,
}


# ---------------------------------------------------------------------------------------------
# §1 Block
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.block", timeout=60)
def hidden_block_random(impl) -> None:
    """Other sizes and lengths, batch 1, bias=False, float64: equal to PyTorch; causal at random positions."""
    rng = random.Random(601)
    for trial, (d_model, n_head, d_ff, bias) in enumerate([(12, 3, 20, True), (24, 4, 48, False), (8, 1, 16, True)]):
        config = impl.GPTConfig(vocab_size=5, block_size=16, n_layer=1, n_head=n_head, d_model=d_model, d_ff=d_ff,
                                bias=bias)
        block = impl.Block(config)
        layer = nn.TransformerEncoderLayer(d_model, n_head, d_ff, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True, bias=bias)
        _fill_(layer, 6010 + trial)
        _load(block, _renamed(layer.state_dict(), *BLOCK_NAMES, norm_biases=True), f"Block(bias={bias})")
        g = torch.Generator().manual_seed(6020 + trial)
        batch, T = rng.randint(1, 3), rng.randint(1, 9)
        x, grad_out = _randn(g, batch, T, d_model), _randn(g, batch, T, d_model)
        what = f"Block(d_model={d_model}, n_head={n_head}, d_ff={d_ff}, bias={bias})(x) for x of shape {tuple(x.shape)}"
        report = block_forward_backward(block, x, grad_out)
        _expect_forward_report(report, tuple(x.shape), what)
        expected, x_grad = _torch_block_run(layer, x, grad_out)
        _close(report["out"], expected, what, "Expected PyTorch's pre-norm layer with a causal mask.")
        _compare_grads(report, [x_grad], ["x"], _grads_under_our_names(layer, *BLOCK_NAMES), what)
        if T >= 2:
            t = rng.randint(1, T - 1)
            changed = x.clone()
            changed[:, t:] += _randn(g, batch, T - t, d_model, scale=2.0)
            after = block_forward_backward(block, changed, grad_out)["out"]
            moved = (after[:, :t] - report["out"][:, :t]).abs().max().item()
            expect(moved < 1e-5, f"{what}: changing the inputs from position {t} on changed earlier outputs "
                   f"(by {moved:.3g}): the future must stay hidden")

    # float64 end to end
    config = impl.GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, d_model=8, d_ff=16)
    block = impl.Block(config)
    layer = _fill_(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                              norm_first=True), 6030)
    _load(block, _renamed(layer.state_dict(), *BLOCK_NAMES), "Block")
    block.double()
    layer.double()
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(6031), dtype=torch.float64)
    report = block_forward_backward(block, x, torch.ones(2, 5, 8, dtype=torch.float64))
    expect(report["out"].dtype == torch.float64, f"Block in float64 returned {report['out'].dtype}")
    _close(report["out"], _torch_block_run(layer, x, None), "Block(...).double()(x) in float64",
           "In float64 the result must match to float64 precision.", atol=1e-10, rtol=1e-10)


@hidden_check("decoder.block", timeout=60)
def hidden_block_device(impl) -> None:
    """The block runs on the device under test and matches the CPU result."""
    device = get_device()
    config = impl.GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, d_model=8, d_ff=16)
    block = impl.Block(config)
    layer = _fill_(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                              norm_first=True), 6040)
    _load(block, _renamed(layer.state_dict(), *BLOCK_NAMES), "Block")
    block.to(str(device))
    x = _randn(torch.Generator().manual_seed(6041), 2, 6, 8)
    out = block(x.to(device))
    expect(isinstance(out, torch.Tensor), f"Block on {device} returned a {_type_of(out)}")
    expect(out.device.type == device.type, f"Block on {device} returned a tensor on {out.device}")
    _close(out.cpu(), _torch_block_run(layer, x, None), f"Block on {device}", "Values differ on the device.",
           atol=1e-4, rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# §8 DecoderLayer
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.decoder_layer", timeout=60)
def hidden_decoder_layer_random(impl) -> None:
    """Random sizes, lengths and masks, both norm orders, gelu, bias=False, one masked source position."""
    rng = random.Random(602)
    settings = [(12, 3, 20, False, "relu", True), (16, 2, 32, True, "gelu", True), (8, 4, 8, True, "relu", False),
                (8, 2, 12, False, "gelu", False)]
    for trial, (d_model, n_heads, d_ff, norm_first, activation, bias) in enumerate(settings):
        layer = nn.TransformerDecoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                           batch_first=True, norm_first=norm_first, bias=bias)
        _fill_(layer, 6050 + trial)
        ours = impl.DecoderLayer(d_model, n_heads, d_ff, norm_first=norm_first, activation=activation, bias=bias)
        _load(ours, _renamed(layer.state_dict(), *DECODER_NAMES, norm_biases=True), "DecoderLayer")
        g = torch.Generator().manual_seed(6060 + trial)
        batch, T, S = rng.randint(1, 4), rng.randint(1, 7), rng.randint(1, 9)
        x, memory, grad_out = _randn(g, batch, T, d_model), _randn(g, batch, S, d_model), _randn(g, batch, T, d_model)
        kwargs = {"causal": trial % 2 == 0,
                  "padding_mask": _lengths_mask([rng.randint(1, T) for _ in range(batch)], T),
                  "memory_padding_mask": _lengths_mask([rng.randint(1, S) for _ in range(batch)], S)}
        what = (f"DecoderLayer({d_model}, {n_heads}, {d_ff}, norm_first={norm_first}, activation={activation!r}, "
                f"bias={bias})(x {tuple(x.shape)}, memory {tuple(memory.shape)}, causal={kwargs['causal']}, padding masks)")
        report = decoder_layer_forward_backward(ours, x, memory, grad_out, kwargs, activation)
        _expect_forward_report(report, (batch, T, d_model), what)
        expected, x_grad, memory_grad = _torch_decoder_run(layer, x, memory, grad_out, **kwargs)
        _close(report["out"], expected, what, "Expected nn.TransformerDecoderLayer with the same weights.")
        _compare_grads(report, [x_grad, memory_grad], ["x", "memory"],
                       _grads_under_our_names(layer, *DECODER_NAMES), what)


@hidden_check("decoder.decoder_layer", timeout=60)
def hidden_decoder_layer_memory_matters(impl) -> None:
    """The output depends on memory exactly through the unmasked source positions."""
    layer = _fill_(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True), 6070)
    ours = impl.DecoderLayer(8, 2, 16, norm_first=True)
    _load(ours, _renamed(layer.state_dict(), *DECODER_NAMES), "DecoderLayer")
    g = torch.Generator().manual_seed(6071)
    x, memory = _randn(g, 2, 4, 8), _randn(g, 2, 6, 8)
    mask = _lengths_mask([6, 3], 6)
    base = ours(x, memory, memory_padding_mask=mask)
    hidden_changed = memory.clone()
    hidden_changed[1, 3:] += 5.0
    same = ours(x, hidden_changed, memory_padding_mask=mask)
    _close(same, base, "DecoderLayer output after changing padded source positions",
           "Padded source positions (memory_padding_mask False) must not influence the output.", atol=1e-5)
    visible_changed = memory.clone()
    visible_changed[1, 0] += 5.0
    moved = ours(x, visible_changed, memory_padding_mask=mask)
    expect(float((moved[1] - base[1]).detach().abs().max()) > 1e-3,
           "DecoderLayer: changing a real source position did not change the output: the cross-attention must read memory")


# ---------------------------------------------------------------------------------------------
# §2 GPT
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.gpt", timeout=60)
def hidden_gpt_sizes(impl) -> None:
    """Other sizes (1 and 4 blocks), a full-length input, batch 1; the wiring and the tying hold everywhere."""
    for sizes in ({"n_layer": 1, "vocab_size": 7, "block_size": 5, "d_model": 6, "n_head": 3},
                  {"n_layer": 4, "vocab_size": 40, "block_size": 9, "d_model": 16, "n_head": 4, "bias": False}):
        model, full = _gpt(impl, **sizes)
        what = f"GPT(GPTConfig({', '.join(f'{k}={v}' for k, v in full.items())}))"
        facts = gpt_facts(impl, model)
        _expect_parts(facts, full, what)
        expect(facts["tied"], f"{what}: lm_head.weight must be tok_emb.weight (tied)")
        g = torch.Generator().manual_seed(6080 + full["n_layer"])
        idx = torch.randint(0, full["vocab_size"], (1, full["block_size"]), generator=g)
        trace = gpt_trace(model, idx)
        records, tok, pos = trace["records"], trace["tok"], trace["pos"]
        _close(records["blocks.0"]["in"], tok[idx] + pos[:full["block_size"]], f"{what}(idx): the input of blocks[0]",
               "Expected tok_emb(idx) + pos_emb.weight[:T].")
        for i in range(1, full["n_layer"]):
            _close(records[f"blocks.{i}"]["in"], records[f"blocks.{i - 1}"]["out"], f"{what}: the input of blocks[{i}]")
        expect(all(records[f"blocks.{i}"]["calls"] == 1 for i in range(full["n_layer"])),
               f"{what}(idx): each block must run exactly once per forward pass")
        _close(trace["features"], records["norm"]["out"], f"{what}.features(idx)")
        _close(trace["logits"], trace["features"] @ tok.T, f"{what}(idx): the logits")


@hidden_check("decoder.gpt", timeout=60)
def hidden_gpt_too_long_and_device(impl) -> None:
    """An input longer than block_size is refused; the model runs on the device under test."""
    model, full = _gpt(impl)
    try:
        model(torch.zeros(1, full["block_size"] + 1, dtype=torch.long))
    except Exception as err:  # noqa: BLE001 - any error is right here
        del err
    else:
        raise CheckFailed("GPT(idx) with more tokens than block_size did not raise an error")
    device = get_device()
    model.to(str(device))
    idx = torch.tensor([[1, 2, 3, 4]], device=device)
    logits = model(idx)
    expect(isinstance(logits, torch.Tensor) and logits.device.type == device.type,
           f"GPT on {device} returned {_type_of(logits)} on {getattr(logits, 'device', '?')}")
    expect_equal(tuple(logits.shape), (1, 4, full["vocab_size"]), f"GPT on {device}: the logits' shape")


# ---------------------------------------------------------------------------------------------
# §3 num_parameters
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.num_parameters", timeout=60)
def hidden_num_parameters_course_size(impl) -> None:
    """The course GPT's default sizes (about a million parameters), tied and untied."""
    for tie in (True, False):
        model = impl.GPT(impl.GPTConfig(vocab_size=1024, tie_weights=tie))
        report = parameter_report(model)
        total = sum(n for _, n in report["named"])
        vocabulary = report["tok"] + report["pos"] + (0 if report["tied"] else report["head"])
        what = f"GPT(GPTConfig(vocab_size=1024, tie_weights={tie}))"
        expect_equal(report["all"], total, f"{what}.num_parameters(non_embedding=False)")
        expect_equal(report["non_embedding"], total - vocabulary, f"{what}.num_parameters()")


# ---------------------------------------------------------------------------------------------
# §4 next_token_probs
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.next_token_probs", timeout=60)
def hidden_next_token_probs_random(impl) -> None:
    """Random scores, several temperatures, 1-D and 3-D inputs, float64 kept, tiny temperature finite, T<=0 refused."""
    g = torch.Generator().manual_seed(605)
    for shape, temperature in (((7,), 1.0), ((3, 11), 0.3), ((2, 2, 5), 1.7), ((4, 9), 0.01)):
        logits = _randn(g, *shape, scale=3.0)
        got = impl.next_token_probs(logits, temperature=temperature)
        what = f"next_token_probs(logits of shape {shape}, temperature={temperature})"
        expect(not bool(torch.isnan(got).any()), f"{what} contains NaN")
        _close(got, _oracle_probs(logits, temperature), what, "Expected softmax(logits / temperature, dim=-1).",
               atol=1e-6)
    logits = torch.randn(3, 6, generator=g, dtype=torch.float64)
    got = impl.next_token_probs(logits, temperature=0.8)
    expect(got.dtype == torch.float64, f"next_token_probs(float64 logits) returned {got.dtype}, expected float64")
    _close(got, _oracle_probs(logits, 0.8), "next_token_probs(float64 logits, 0.8)", atol=1e-12, rtol=1e-10)
    half = impl.next_token_probs(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16))
    expect(half.dtype in (torch.float32, torch.float64), f"next_token_probs(bfloat16 logits) returned {half.dtype}: "
           "compute the softmax in float32")
    _close(half, torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), -1), "next_token_probs(bfloat16 logits)", atol=1e-3)


# ---------------------------------------------------------------------------------------------
# §5 filters
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.top_k", timeout=60)
def hidden_top_k_random(impl) -> None:
    """Random scores with ties, 1-D to 3-D, k from 1 to vocab-1; exactly k survive, the right ones."""
    rng = random.Random(606)
    g = torch.Generator().manual_seed(606)
    for shape in ((9,), (4, 7), (2, 3, 12)):
        logits = torch.randint(-3, 4, shape, generator=g).float()        # many ties
        for k in (1, rng.randint(2, shape[-1] - 2), shape[-1] - 1):
            what = f"top_k_filter(integer-valued scores of shape {shape} (with ties), k={k})"
            got = _filter_call(impl, "top_k_filter", logits.clone(), k, what)
            kept = torch.isfinite(got).sum(-1)
            expect(bool((kept == k).all()), f"{what}: kept {kept.reshape(-1).tolist()} tokens per row, expected {k}")
            _close(got, _oracle_top_k(logits, k), what, "At a tie the lower id is kept (stable sort).", atol=0)
    logits = torch.randn(3, 50, generator=g)
    got = _filter_call(impl, "top_k_filter", logits.clone(), 10, "top_k_filter(random (3, 50), k=10)")
    _close(got, _oracle_top_k(logits, 10), "top_k_filter(random (3, 50), k=10)", atol=0)


@hidden_check("decoder.top_p", timeout=60)
def hidden_top_p_random(impl) -> None:
    """Random distributions and p away from the boundaries, 1-D to 3-D, with -inf entries; the kept mass reaches p minimally."""
    g = torch.Generator().manual_seed(607)
    rng = random.Random(607)
    for shape in ((10,), (5, 8), (2, 3, 16)):
        logits = _randn(g, *shape, scale=2.0)
        logits[..., 0] = NEG_INF
        for _ in range(3):
            probs = torch.softmax(logits.double(), -1)
            sorted_probs = probs.sort(-1, descending=True).values
            boundaries = sorted_probs.cumsum(-1)
            while True:   # a p at least 1e-4 away from every cumulative sum
                p = rng.uniform(0.05, 0.97)
                if bool(((boundaries - p).abs() > 1e-4).all()):
                    break
            what = f"top_p_filter(random scores of shape {shape}, p={p:.4f})"
            got = _filter_call(impl, "top_p_filter", logits.clone(), p, what)
            expected = _oracle_top_p(logits, p)
            kept = torch.isfinite(got)
            mass = (probs * kept).sum(-1)
            expect(bool((mass >= p - 1e-6).all()), f"{what}: the kept tokens' probability adds up to "
                   f"{_fmt(mass)}, below p: keep the token that crosses p")
            _close(got, expected, what, "Expected the smallest set of most likely tokens with mass >= p.", atol=1e-6)


# ---------------------------------------------------------------------------------------------
# §6 sampling
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.sample", timeout=60)
def hidden_sample_random(impl) -> None:
    """Six tokens, batch shapes, temperature with both filters; chi-square with fixed seeds; same seed, same tokens."""
    probs = torch.tensor([0.05, 0.3, 0.1, 0.25, 0.2, 0.1], dtype=torch.float64)
    logits = (probs.log() + 1.5).float()
    n = 6000
    cases = [({"temperature": 1.3}, None), ({"top_k": 4, "top_p": 0.7}, None),
             ({"temperature": 0.7, "top_k": 3}, None)]
    with hold_fixed("decoder", impl, "next_token_probs", "top_k_filter", "top_p_filter"):
        for options, _ in cases:
            expected = _oracle_probs(_apply_filters(logits, options), 1.0).double().tolist()
            what = f"sample_next_token(logits, {_describe_options(options)}) drawn {n} times"
            ids = sample_with_seed(impl, logits.expand(n, 6).clone(), 6070, 3, options)["ids"]
            counts = torch.bincount(ids.long().reshape(-1), minlength=6)
            banned = [i for i, p in enumerate(expected) if p == 0 and counts[i] > 0]
            expect(not banned, f"{what}: drew filtered-out ids {banned}")
            stat, dof = _chi_square(counts, expected, n)
            limit = CHI2_LIMIT.get(dof, 13.8 + 3.0 * dof)
            expect(stat <= limit, f"{what}: counts {counts.tolist()} far from {[round(n * p) for p in expected]} "
                   f"(chi-square {stat:.1f})")
        rows = _randn(torch.Generator().manual_seed(6071), 2, 3, 6, scale=2.0)
        ids = sample_with_seed(impl, rows, 9, 9, {"temperature": 0.8})["ids"]
        expect(isinstance(ids, torch.Tensor) and tuple(ids.shape) == (2, 3),
               f"sample_next_token(logits of shape (2, 3, 6)) returned shape "
               f"{tuple(ids.shape) if isinstance(ids, torch.Tensor) else _type_of(ids)}, expected (2, 3)")
        greedy = impl.sample_next_token(rows, temperature=0.0, top_k=1, top_p=0.5)
        expect_equal(greedy.tolist(), rows.argmax(-1).tolist(), "sample_next_token(logits (2, 3, 6), temperature=0)")


def _apply_filters(logits, options):
    scaled = logits.float() / options.get("temperature", 1.0)
    if options.get("top_k") is not None:
        scaled = _oracle_top_k(scaled, options["top_k"])
    if options.get("top_p") is not None:
        scaled = _oracle_top_p(scaled, options["top_p"])
    return scaled


# ---------------------------------------------------------------------------------------------
# §7 KV cache
# ---------------------------------------------------------------------------------------------

@hidden_check("decoder.kv_cache", timeout=60)
def hidden_kv_cache_chunks(impl) -> None:
    """Three blocks, a prompt prefilled in one chunk then single tokens; a cache full to block_size."""
    model, full = _gpt(impl, n_layer=3, vocab_size=13, block_size=10, d_model=12, n_head=3)
    g = torch.Generator().manual_seed(608)
    idx = torch.randint(0, 13, (3, 10), generator=g)
    run = cached_steps(model, idx, [4, 1, 1, 1, 1, 1, 1])
    for step in run["steps"]:
        start, n = step["start"], step["n"]
        what = f"GPT.features(idx[:, {start}:{start + n}], kv_cache=cache) after {start} cached tokens (3 blocks)"
        expect_equal(step["lengths"], [start + n] * 3, f"{what}: the caches' lengths")
        _close(step["block_in"][0], run["block0_in_no_cache"][:, start:start + n], f"{what}: the input of blocks[0]",
               "Expected what blocks[0] receives at these positions without a cache: the token vectors plus the "
               "vectors of positions start .. start + T - 1.")
        for i in range(3):
            _close(step["block_out"][i], step["block_out_no_cache"][i], f"{what}: the output of blocks[{i}]",
                   "Expected the block's output without a cache on the whole sequence.")


@hidden_check("decoder.kv_cache", timeout=60)
def hidden_kv_cache_generate(impl) -> None:
    """Greedy generation with and without the cache from longer prompts (batch 3), and past block_size."""
    model, full = _gpt(impl, n_layer=1, vocab_size=29, block_size=16, d_model=8, n_head=2)
    prompt = torch.randint(0, 29, (3, 5), generator=torch.Generator().manual_seed(609))
    with hold_fixed("decoder", impl, "sample_next_token"):
        single = model.generate(prompt[:, :1], 15, temperature=0.0, use_cache=True)
        single_ref = model.generate(prompt[:, :1], 15, temperature=0.0, use_cache=False)
        expect_equal(single.tolist(), single_ref.tolist(),
                     "greedy generate(prompt of 1 token, 15 new, use_cache=True) vs use_cache=False")
        long = model.generate(prompt, 30, temperature=0.0, use_cache=True)
    expect(isinstance(long, torch.Tensor) and tuple(long.shape) == (3, 35),
           f"generate past block_size (5 + 30 tokens, block 16) with a cache returned "
           f"{tuple(long.shape) if isinstance(long, torch.Tensor) else _type_of(long)}, expected (3, 35)")
    expect_equal(long[:, :5].tolist(), prompt.tolist(), "generate(...)[:, :5] (the prompt comes first)")
    cache = impl.KVCache(4)
    cache.update(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    try:
        cache.update(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    except Exception:  # noqa: BLE001 - the provided check raises ValueError
        pass
    else:
        raise CheckFailed("KVCache(4): storing 3 then 2 more positions did not raise an error")
