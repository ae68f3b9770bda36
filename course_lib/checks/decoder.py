"""Public checks for notebook 06 (the decoder): ``check("decoder.block")`` and friends.

The judge compares the learner's code with PyTorch's own where PyTorch has it:
``nn.TransformerEncoderLayer(norm_first=True)`` with a causal mask for the GPT block,
``nn.TransformerDecoderLayer`` (both norm orders, causal and padding masks) for the decoder
layer, outputs and gradients alike. Elsewhere it uses literal values (worked out by hand, the
arithmetic is in the comments), properties (a future token never changes an earlier output;
top-k keeps exactly k tokens; a seed gives the same draws) and counts of many random draws tested
against the exact distribution (a chi-square test with a fixed seed). Nothing here implements an
exercise.

One bug costs one check:

* the block and decoder-layer checks put PyTorch's LayerNorm and feed-forward (same weights) in
  place of notebook 05's inside the learner's layer, so they test this notebook's wiring;
* the GPT check treats the blocks as black boxes: it records what goes in and out of each part
  (forward hooks) and checks that the pieces are connected right, whatever the blocks compute;
* the KV-cache check compares each block's cached output with the *same* block run without a
  cache on everything it has seen, so it tests the cache, not the block;
* the sampling check holds the filters and the softmax fixed (instructor side).

The probes below run in the worker, next to the learner's code, and report what happened; they
hold no expected values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    Handle,
    StudentError,
    expect,
    expect_close,
    expect_equal,
    hold_fixed,
    probe,
    public_check,
)

NEG_INF = float("-inf")

# ---------------------------------------------------------------------------------------------
# Probes (run in the worker, on the real objects; they report, they do not judge)
# ---------------------------------------------------------------------------------------------


class _PyTorchFeedForward(nn.Module):
    """PyTorch's linear layers and activation holding the weights of the learner's FeedForward."""

    def __init__(self, ff: nn.Module, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(ff.linear1.in_features, ff.linear1.out_features, bias=ff.linear1.bias is not None)
        self.linear2 = nn.Linear(ff.linear2.in_features, ff.linear2.out_features, bias=ff.linear2.bias is not None)
        self.linear1.load_state_dict(ff.linear1.state_dict())
        self.linear2.load_state_dict(ff.linear2.state_dict())
        self.to(device=ff.linear1.weight.device, dtype=ff.linear1.weight.dtype)
        self.activation = nn.GELU() if activation == "gelu" else nn.ReLU()

    def forward(self, x):
        return self.linear2(self.activation(self.linear1(x)))


def _pytorch_norm(norm: nn.Module) -> nn.LayerNorm:
    """An nn.LayerNorm holding the weight, bias and eps of the learner's LayerNorm."""
    torch_norm = nn.LayerNorm(norm.weight.shape[0], eps=getattr(norm, "eps", 1e-5))
    torch_norm.to(device=norm.weight.device, dtype=norm.weight.dtype)
    with torch.no_grad():
        torch_norm.weight.copy_(norm.weight)
        torch_norm.bias.copy_(norm.bias)
    return torch_norm


def _forward_backward(module: nn.Module, inputs: list, kwargs: dict, grad_out) -> dict:
    """module(*inputs, **kwargs), then backward(grad_out): output, input and parameter gradients."""
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    before = [t.detach().clone() for t in inputs]
    for p in module.parameters():
        p.grad = None
    out = module(*inputs, **kwargs)
    is_tensor = isinstance(out, torch.Tensor)
    report = {"is_tensor": is_tensor, "type": type(out).__name__,
              "out": out.detach() if is_tensor else None,
              "inputs_unchanged": all(torch.equal(t.detach(), b) for t, b in zip(inputs, before)),
              "requires_grad": bool(is_tensor and out.requires_grad)}
    if is_tensor and out.requires_grad and out.shape == grad_out.shape:
        out.backward(grad_out)
        report["input_grads"] = [None if t.grad is None else t.grad.detach() for t in inputs]
        report["param_grads"] = {n: None if p.grad is None else p.grad.detach() for n, p in module.named_parameters()}
    return report


@probe
def block_forward_backward(block, x, grad_out) -> dict:
    """Put PyTorch's LayerNorm and MLP (same weights) inside the learner's Block, then run
    block(x) and backward(grad_out)."""
    block.norm1 = _pytorch_norm(block.norm1)
    block.norm2 = _pytorch_norm(block.norm2)
    if not isinstance(block.mlp, _PyTorchFeedForward):
        block.mlp = _PyTorchFeedForward(block.mlp, "gelu")
    block.train()
    return _forward_backward(block, [x], {}, grad_out)


@probe
def decoder_layer_forward_backward(layer, x, memory, grad_out, kwargs: dict, activation: str = "relu") -> dict:
    """Put PyTorch's LayerNorms and feed-forward (same weights, `activation`) inside the learner's
    DecoderLayer, then run layer(x, memory, **kwargs) and backward(grad_out)."""
    for name in ("norm1", "norm2", "norm3"):
        setattr(layer, name, _pytorch_norm(getattr(layer, name)))
    if not isinstance(layer.ff, _PyTorchFeedForward):
        layer.ff = _PyTorchFeedForward(layer.ff, activation)
    layer.train()
    return _forward_backward(layer, [x, memory], kwargs, grad_out)


_GPT_PARTS = ("config", "tok_emb", "pos_emb", "drop", "blocks", "norm", "lm_head")


@probe
def gpt_facts(impl, model) -> dict:
    """What the learner's GPT is made of: its parts, their types and shapes, the weight sharing."""
    facts = {"is_module": isinstance(model, nn.Module), "type": type(model).__name__,
             "missing": [name for name in _GPT_PARTS if not hasattr(model, name)]}
    if not facts["is_module"] or facts["missing"]:
        return facts
    blocks = model.blocks
    items = list(blocks) if isinstance(blocks, (nn.ModuleList, list, tuple)) else []
    head = model.lm_head
    facts.update({
        "blocks_type": type(blocks).__name__,
        "blocks_is_module_list": isinstance(blocks, nn.ModuleList),
        "n_blocks": len(items),
        "n_distinct_blocks": len({id(b) for b in items}),
        "block_types_ok": all(isinstance(b, impl.Block) for b in items),
        "block_types": sorted({type(b).__name__ for b in items}),
        "module_types": {name: type(getattr(model, name)).__name__ for name in _GPT_PARTS[1:]},
        "modules_ok": {name: isinstance(getattr(model, name), nn.Module) for name in _GPT_PARTS[1:]},
        "tok_shape": list(getattr(model.tok_emb, "weight", torch.empty(0)).shape),
        "pos_shape": list(getattr(model.pos_emb, "weight", torch.empty(0)).shape),
        "head_is_linear": isinstance(head, nn.Linear),
        "head_shape": list(getattr(head, "weight", torch.empty(0)).shape),
        "head_has_bias": getattr(head, "bias", None) is not None,
        "tied": getattr(head, "weight", None) is getattr(model.tok_emb, "weight", 0),
        "head_weight_is_parameter": isinstance(getattr(head, "weight", None), nn.Parameter),
        "head_weight_registered": any(p is getattr(head, "weight", None) for p in model.parameters()),
        "config_is_given": model.config is not None,
        "n_parameter_tensors": len(list(model.parameters())),
    })
    return facts


@probe
def gpt_trace(model, idx) -> dict:
    """Run model(idx) with forward hooks recording the input and output of the embedding, every
    block, the final norm and the LM head; then model.features(idx) without hooks."""
    model.eval()
    records: dict = {}

    def recorder(name):
        def hook(module, inputs, output):
            first = inputs[0] if inputs else None
            records[name] = {"in": first.detach().clone() if isinstance(first, torch.Tensor) else None,
                             "out": output.detach().clone() if isinstance(output, torch.Tensor) else None,
                             "calls": records.get(name, {}).get("calls", 0) + 1}
        return hook

    watched = [("tok_emb", model.tok_emb), ("norm", model.norm), ("lm_head", model.lm_head)]
    watched += [(f"blocks.{i}", block) for i, block in enumerate(model.blocks)]
    hooks = [module.register_forward_hook(recorder(name)) for name, module in watched]
    try:
        logits = model(idx)
    finally:
        for hook in hooks:
            hook.remove()
    features = model.features(idx)
    return {"records": records,
            "logits": logits.detach() if isinstance(logits, torch.Tensor) else None,
            "features": features.detach() if isinstance(features, torch.Tensor) else None,
            "tok": model.tok_emb.weight.detach().clone(), "pos": model.pos_emb.weight.detach().clone(),
            "head": model.lm_head.weight.detach().clone()}


@probe
def tied_gradient(model, idx) -> dict:
    """One backward pass of model(idx).sum(): the gradients that reach the embedding and the head."""
    model.train()
    model.zero_grad(set_to_none=True)
    model(idx).float().sum().backward()
    tok, head = model.tok_emb.weight, model.lm_head.weight
    return {"tok_grad": None if tok.grad is None else tok.grad.detach().clone(),
            "head_grad": None if head.grad is None else head.grad.detach().clone()}


@probe
def parameter_report(model) -> dict:
    """The model's parameters (a shared one listed once) and what its num_parameters() says."""
    def count(*args, **kwargs):
        value = model.num_parameters(*args, **kwargs)
        return value if isinstance(value, int) and not isinstance(value, bool) else repr(type(value).__name__)

    return {
        "named": [[name, p.numel()] for name, p in model.named_parameters()],
        "tied": model.lm_head.weight is model.tok_emb.weight,
        "tok": model.tok_emb.weight.numel(), "pos": model.pos_emb.weight.numel(),
        "head": model.lm_head.weight.numel(),
        "default": count(), "non_embedding": count(non_embedding=True), "all": count(non_embedding=False),
    }


@probe
def call_keeping_input(impl, name: str, logits, *args, **kwargs) -> dict:
    """impl.<name>(logits, *args, **kwargs), and whether the call changed `logits` in place."""
    before = logits.clone()
    result = getattr(impl, name)(logits, *args, **kwargs)
    return {"result": result, "input_unchanged": bool(torch.equal(logits, before)),
            "same_object": result is logits}


@probe
def sample_with_seed(impl, logits, seed: int, global_seed: int, options: dict) -> dict:
    """impl.sample_next_token(logits, generator=torch.Generator().manual_seed(seed), **options),
    with PyTorch's global generator seeded with `global_seed` first (and restored after)."""
    saved = torch.random.get_rng_state()
    try:
        torch.manual_seed(global_seed)
        generator = torch.Generator().manual_seed(seed)
        ids = impl.sample_next_token(logits, generator=generator, **options)
    finally:
        torch.random.set_rng_state(saved)
    return {"ids": ids}


@probe
def cached_steps(model, idx, chunks: list) -> dict:
    """Feed idx to model.features in chunks of `chunks` tokens through one fresh model.new_kv_cache().

    For each step: every block's input and output (hooks), each cache's length, and the output of
    the same block run WITHOUT a cache on all the inputs it has received so far (last positions).
    """
    model.eval()
    cache = model.new_kv_cache()
    n_blocks = len(model.blocks)
    seen: list[list] = [[] for _ in range(n_blocks)]
    current: dict = {}
    recording = [False]

    def recorder(index):
        def hook(module, inputs, output):
            if recording[0]:
                current[index] = (inputs[0].detach().clone(), output.detach().clone())
        return hook

    hooks = [block.register_forward_hook(recorder(i)) for i, block in enumerate(model.blocks)]
    steps = []
    start = 0
    try:
        with torch.no_grad():
            for n in chunks:
                current.clear()
                recording[0] = True
                model.features(idx[:, start:start + n], kv_cache=cache)
                recording[0] = False
                step = {"start": start, "n": n, "lengths": [getattr(c, "length", None) for c in cache],
                        "block_in": [], "block_out": [], "block_out_no_cache": []}
                for i, block in enumerate(model.blocks):
                    if i not in current:
                        step["block_in"].append(None)
                        step["block_out"].append(None)
                        step["block_out_no_cache"].append(None)
                        continue
                    x_in, x_out = current[i]
                    seen[i].append(x_in)
                    everything = torch.cat(seen[i], dim=1)                  # all inputs so far
                    step["block_in"].append(x_in)
                    step["block_out"].append(x_out)
                    step["block_out_no_cache"].append(block(everything)[:, -x_in.shape[1]:].detach())
                steps.append(step)
                start += n
    finally:
        for hook in hooks:
            hook.remove()
    # The input of blocks[0] without a cache, on the whole sequence (embeddings and positions).
    first: list = []
    hook = model.blocks[0].register_forward_hook(lambda module, inputs, output: first.append(inputs[0].detach().clone()))
    try:
        with torch.no_grad():
            model.features(idx[:, :start])
    finally:
        hook.remove()
    return {"steps": steps, "tok": model.tok_emb.weight.detach().clone(),
            "pos": model.pos_emb.weight.detach().clone(), "block0_in_no_cache": first[0] if first else None}


# ---------------------------------------------------------------------------------------------
# Judge-side helpers
# ---------------------------------------------------------------------------------------------

def _randn(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64).mul(scale).float()


def _fill_(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter of a PyTorch module seeded random values (norm weights near 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64).float()
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.3 * noise)
    return module


def _fmt(values) -> str:
    values = values.reshape(-1).tolist() if isinstance(values, torch.Tensor) else list(values)
    return "[" + ", ".join("-inf" if v == NEG_INF else f"{v:.4g}" for v in values) + "]"


def _close(got, expected, what: str, advice: str = "", *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {advice}".strip()) from None


def _matches(got, candidate: torch.Tensor, atol: float = 1e-4) -> bool:
    """True if `got` has `candidate`'s shape and values (to recognise a known mistake)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g, c = got.detach().double().cpu(), candidate.detach().double().cpu()
    both_inf = torch.isinf(g) & torch.isinf(c) & (g == c)
    return bool(((g - c).abs() <= atol)[~both_inf].all())


def _type_of(value) -> str:
    return value.type_name if isinstance(value, Handle) else type(value).__name__


def _attention_state(torch_attn_state: dict, prefix: str, ours: str) -> dict:
    """PyTorch's fused attention weights (prefix + in_proj_weight, q;k;v) under our names."""
    out = {}
    q, k, v = torch_attn_state[prefix + "in_proj_weight"].chunk(3, dim=0)
    out.update({f"{ours}q_proj.weight": q, f"{ours}k_proj.weight": k, f"{ours}v_proj.weight": v})
    if prefix + "in_proj_bias" in torch_attn_state:
        qb, kb, vb = torch_attn_state[prefix + "in_proj_bias"].chunk(3, dim=0)
        out.update({f"{ours}q_proj.bias": qb, f"{ours}k_proj.bias": kb, f"{ours}v_proj.bias": vb})
    for end in ("weight", "bias"):
        if f"{prefix}out_proj.{end}" in torch_attn_state:
            out[f"{ours}out_proj.{end}"] = torch_attn_state[f"{prefix}out_proj.{end}"]
    return out


def _renamed(state: dict, attention: dict[str, str], others: dict[str, str], *, norm_biases: bool = False) -> dict:
    """A PyTorch layer's state_dict under the course's names (attention prefixes and other modules).

    With `norm_biases`, a LayerNorm without a bias (PyTorch's layers with bias=False) gets a zero
    one, since the course's LayerNorm always has one."""
    out = {}
    for theirs, ours in attention.items():
        out.update(_attention_state(state, theirs, ours))
    for theirs, ours in others.items():
        for end in ("weight", "bias"):
            if f"{theirs}.{end}" in state:
                out[f"{ours}.{end}"] = state[f"{theirs}.{end}"]
        if norm_biases and theirs.startswith("norm") and f"{theirs}.bias" not in state:
            out[f"{ours}.bias"] = torch.zeros_like(state[f"{theirs}.weight"])
    return {k: v.detach().clone() for k, v in out.items()}


def _load(module: Handle, state: dict, what: str) -> None:
    """module.load_state_dict(state) on the learner's module, with a readable failure."""
    try:
        module.load_state_dict(state)
    except StudentError as err:
        if err.not_implemented:
            raise
        raise CheckFailed(f"loading PyTorch's weights into {what} failed ({err.type_name}: {err.message[:300]}). "
                          "Keep the sub-modules the provided __init__ creates, with their names") from None


def _grads_under_our_names(torch_module: nn.Module, attention: dict[str, str], others: dict[str, str]) -> dict:
    grads = {name: p.grad for name, p in torch_module.named_parameters() if p.grad is not None}
    return _renamed(grads, attention, others)


def _expect_forward_report(report: dict, shape: tuple, what: str) -> None:
    expect(report["is_tensor"], f"{what} returned a {report['type']}, expected a torch.Tensor")
    expect_equal(tuple(report["out"].shape), tuple(shape), f"{what}.shape")
    expect(report["inputs_unchanged"], f"{what} modified its input in place: build new tensors (x = x + ...) "
           "instead of writing into the input (x += ..., x[...] = ...)")
    expect(report["requires_grad"], f"{what} does not require grad although its input and parameters do: compute "
           "it from them with tensor operations (no .detach(), .data, .item() or torch.no_grad())")


def _compare_grads(report: dict, expected_inputs: list, input_names: list, expected_params: dict, what: str) -> None:
    for got, expected, name in zip(report["input_grads"], expected_inputs, input_names):
        expect(got is not None, f"after {what}.backward(), {name}.grad is None: the output must be computed from "
               f"{name} with differentiable tensor operations")
        _close(got, expected, f"the gradient of {what} with respect to {name}",
               "The forward outputs match but the gradients do not: is something detached, or computed in place?")
    grads = report["param_grads"]
    for name, expected in expected_params.items():
        got = grads.get(name)
        expect(got is not None, f"after {what}.backward(), the parameter {name} has no gradient: it must take part "
               "in the computation (is a sub-layer skipped, or its output detached?)")
        _close(got, expected, f"the gradient of {what} with respect to the parameter {name}",
               "Its forward output matches PyTorch's but this gradient does not.")


# ---------------------------------------------------------------------------------------------
# §1 The GPT block
# ---------------------------------------------------------------------------------------------

BLOCK_NAMES = ({"self_attn.": "attn."}, {"linear1": "mlp.linear1", "linear2": "mlp.linear2",
                                          "norm1": "norm1", "norm2": "norm2"})


def _torch_block(d_model: int, n_heads: int, d_ff: int, seed: int, *, norm_first: bool = True) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first)
    return _fill_(layer, seed)


def _torch_block_run(layer: nn.TransformerEncoderLayer, x: torch.Tensor, grad_out: torch.Tensor | None, *,
                     causal: bool = True):
    x = x.clone().requires_grad_(True)
    mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1]) if causal else None
    out = layer(x, src_mask=mask, is_causal=causal)
    if grad_out is None:
        return out.detach()
    layer.zero_grad(set_to_none=True)
    out.backward(grad_out)
    return out.detach(), x.grad.detach()


def _block_config(impl, d_model: int = 16, n_head: int = 4, d_ff: int = 32):
    return impl.GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=n_head, d_model=d_model, d_ff=d_ff)


def _diagnose_block(got: torch.Tensor, layer: nn.TransformerEncoderLayer, x: torch.Tensor, what: str, seed: int) -> None:
    if _matches(got, _torch_block_run(layer, x, None, causal=False)):
        raise CheckFailed(f"{what} equals the block WITHOUT a causal mask: every token sees the future. Ask the "
                          "attention to hide it: self.attn(..., is_causal=True)")
    d_model, n_heads = layer.self_attn.embed_dim, layer.self_attn.num_heads
    post = _torch_block(d_model, n_heads, layer.linear1.out_features, seed, norm_first=False)
    if _matches(got, _torch_block_run(post, x, None)):
        raise CheckFailed(f"{what} equals the POST-norm layer (norm applied after adding the residual). A GPT block is "
                          "pre-norm: x = x + attn(norm1(x)); x = x + mlp(norm2(x))")
    square = nn.Transformer.generate_square_subsequent_mask(x.shape[1] + 1)    # 0 on and below the diagonal
    with torch.no_grad():
        if _matches(got, layer(x, src_mask=square[1:, :-1])):                    # row t sees 0 .. t + 1
            raise CheckFailed(f"{what}: token t also sees token t + 1: the causal mask is shifted by one. Token t "
                              "may see tokens 0 .. t, itself included and nothing after (is_causal=True)")
        if _matches(got[:, 1:], layer(x, src_mask=square[:-1, 1:])[:, 1:]):     # row t sees 0 .. t - 1
            raise CheckFailed(f"{what}: token t attends to tokens 0 .. t-1 only; it must see itself too "
                              "(the causal mask keeps the diagonal)")


@public_check("decoder.block", timeout=30)
def check_block(impl) -> None:
    """Block (pre-norm, causal) equals PyTorch's nn.TransformerEncoderLayer(norm_first=True) with a causal mask: outputs, gradients, no peeking at the future."""
    block = impl.Block(_block_config(impl))
    layer = _torch_block(16, 4, 32, seed=6)
    _load(block, _renamed(layer.state_dict(), *BLOCK_NAMES), "Block")
    g = torch.Generator().manual_seed(61)
    x, grad_out = _randn(g, 2, 6, 16), _randn(g, 2, 6, 16)
    what = "Block(d_model=16, n_head=4, d_ff=32)(x) for x of shape (2, 6, 16)"
    report = block_forward_backward(block, x, grad_out)
    _expect_forward_report(report, (2, 6, 16), what)
    expected, x_grad = _torch_block_run(layer, x, grad_out)
    _diagnose_block(report["out"], layer, x, what, seed=6)
    _close(report["out"], expected, what,
           "Expected nn.TransformerEncoderLayer(norm_first=True, activation='gelu') with a causal mask: "
           "x = x + dropout(attn(norm1(x), is_causal=True)); x = x + dropout(mlp(norm2(x))).")
    _compare_grads(report, [x_grad], ["x"], _grads_under_our_names(layer, *BLOCK_NAMES), what)

    # The causal property, directly: change the token at position 4 and nothing before it may move.
    changed = x.clone()
    changed[:, 4] += _randn(g, 2, 16, scale=3.0)
    after = block_forward_backward(block, changed, grad_out)["out"]
    before = report["out"]
    moved = (after[:, :4] - before[:, :4]).abs().max().item()
    expect(moved < 1e-5, f"{what}: changing the input at position 4 changed the outputs at positions 0..3 (by up "
           f"to {moved:.3g}): a token must never see the tokens after it (is_causal=True)")
    expect((after[:, 4:] - before[:, 4:]).abs().max().item() > 1e-4,
           f"{what}: changing the input at position 4 did not change the outputs from position 4 on: every token "
           "must see itself and its past")


# ---------------------------------------------------------------------------------------------
# §2 The GPT: parts, wiring, weight tying
# ---------------------------------------------------------------------------------------------

def _gpt(impl, **sizes):
    base = {"vocab_size": 23, "block_size": 12, "n_layer": 2, "n_head": 2, "d_model": 8}
    base.update(sizes)
    return impl.GPT(impl.GPTConfig(**base)), base


def _expect_parts(facts: dict, sizes: dict, what: str) -> None:
    expect(facts["is_module"], f"{what} is a {facts['type']}, expected an nn.Module")
    expect(not facts["missing"], f"{what} has no attribute(s) {', '.join(facts['missing'])}: __init__ must create "
           "tok_emb, pos_emb, drop, blocks, norm and lm_head (and keep self.config)")
    not_modules = [name for name, ok in facts["modules_ok"].items() if not ok]
    expect(not not_modules, f"{what}: {', '.join(not_modules)} should be nn.Module(s), got "
           f"{', '.join(facts['module_types'][n] for n in not_modules)}")
    v, d, n = sizes["vocab_size"], sizes["d_model"], sizes["n_layer"]
    expect_equal(facts["tok_shape"], [v, d], f"{what}.tok_emb.weight.shape (vocab_size, d_model)")
    expect_equal(facts["pos_shape"], [sizes["block_size"], d], f"{what}.pos_emb.weight.shape (block_size, d_model)")
    expect(facts["blocks_is_module_list"], f"{what}.blocks is a {facts['blocks_type']}: use nn.ModuleList, so that "
           ".parameters(), .to(device) and state_dict() see the blocks")
    expect_equal(facts["n_blocks"], n, f"len({what}.blocks) (n_layer)")
    expect(facts["n_distinct_blocks"] == n, f"{what}.blocks holds the same Block object several times: create "
           "n_layer separate Blocks ([Block(config) for _ in range(n_layer)]), or they share one set of weights")
    expect(facts["block_types_ok"], f"{what}.blocks holds {facts['block_types']}: each must be a Block")
    expect(facts["head_is_linear"], f"{what}.lm_head is a {facts['module_types']['lm_head']}, expected an nn.Linear")
    expect_equal(facts["head_shape"], [v, d], f"{what}.lm_head.weight.shape (vocab_size, d_model)")
    expect(not facts["head_has_bias"], f"{what}.lm_head has a bias: GPT's head is nn.Linear(d_model, vocab_size, "
           "bias=False) (its weight is shared with the embedding; a bias would have no partner)")


@public_check("decoder.gpt", timeout=30)
def check_gpt(impl) -> None:
    """GPT has its parts (tok_emb, pos_emb, blocks, norm, lm_head), wires them in order, and ties the head to the embedding."""
    model, sizes = _gpt(impl)
    what = "GPT(GPTConfig(vocab_size=23, block_size=12, n_layer=2, n_head=2, d_model=8))"
    facts = gpt_facts(impl, model)
    _expect_parts(facts, sizes, what)
    expect(facts["head_weight_is_parameter"] and facts["head_weight_registered"],
           f"{what}.lm_head.weight must be a registered nn.Parameter")
    expect(facts["tied"], f"{what}.lm_head.weight is not the same object as tok_emb.weight: with tie_weights the two "
           "must SHARE one Parameter (self.lm_head.weight = self.tok_emb.weight); a copy would be trained as a "
           "separate matrix")

    idx = torch.tensor([[3, 14, 15, 9, 2, 6, 5], [22, 0, 7, 7, 1, 20, 11]])
    trace = gpt_trace(model, idx)
    records = trace["records"]
    tok, pos, head = trace["tok"], trace["pos"], trace["head"]
    for part in ("blocks.0", "blocks.1", "norm", "lm_head"):
        expect(part in records, f"{what}(idx): model.{part} was never called: features() must run every block in "
               "order, then the final norm, and forward() the LM head")
    B, T = idx.shape
    embedded = tok[idx] + pos[:T]
    first = records["blocks.0"]["in"]
    expect(isinstance(first, torch.Tensor) and tuple(first.shape) == (B, T, 8),
           f"{what}(idx) for idx of shape (2, 7): blocks[0] received "
           f"{tuple(first.shape) if isinstance(first, torch.Tensor) else first}, expected a (2, 7, 8) tensor")
    if _matches(first, tok[idx]):
        raise CheckFailed(f"{what}(idx): blocks[0] received the token vectors only: add the position vectors "
                          "pos_emb.weight[:T] (one per position) to them")
    _close(first, embedded, f"{what}(idx): the input of blocks[0]",
           "Expected tok_emb(idx) + pos_emb.weight[0 .. T-1] (then drop, which does nothing at dropout 0).")
    for i in range(1, sizes["n_layer"]):
        _close(records[f"blocks.{i}"]["in"], records[f"blocks.{i - 1}"]["out"], f"{what}(idx): the input of blocks[{i}]",
               f"Each block must read the previous block's output (x = block(x) in a loop).")
    last = records[f"blocks.{sizes['n_layer'] - 1}"]["out"]
    _close(records["norm"]["in"], last, f"{what}(idx): the input of the final norm",
           "The final norm reads the last block's output.")
    features = trace["features"]
    expect(isinstance(features, torch.Tensor), f"{what}.features(idx) returned a {_type_of(features)}, expected a tensor")
    expect_equal(tuple(features.shape), (B, T, 8), f"{what}.features(idx).shape")
    _close(features, records["norm"]["out"], f"{what}.features(idx)",
           "features() returns the output of the final norm (what the LM head reads).")
    logits = trace["logits"]
    expect(isinstance(logits, torch.Tensor), f"{what}(idx) returned a {_type_of(logits)}, expected a tensor")
    expect_equal(tuple(logits.shape), (B, T, 23), f"{what}(idx).shape (batch, seq, vocab_size)")
    _close(logits, features @ tok.T, f"{what}(idx): the logits",
           "Expected lm_head(features(idx)), with lm_head's weight equal to tok_emb.weight (tied).")

    # Tied weights get the gradient of both uses.
    grads = tied_gradient(model, idx)
    expect(grads["tok_grad"] is not None, f"after {what}(idx).sum().backward(), tok_emb.weight.grad is None")
    unused = [t for t in range(23) if t not in idx.reshape(-1).tolist()]
    head_part = grads["tok_grad"][unused]   # unused tokens get gradient only from the head
    expect(float(head_part.abs().sum()) > 0, f"{what}: the rows of tok_emb.weight of tokens absent from idx got no "
           "gradient: the LM head must use the same matrix (tied), so every row is trained through the head")

    # Untied: two separate matrices.
    untied, untied_sizes = _gpt(impl, tie_weights=False, n_layer=3, vocab_size=19)
    what = "GPT(GPTConfig(vocab_size=19, ..., n_layer=3, tie_weights=False))"
    facts = gpt_facts(impl, untied)
    _expect_parts(facts, untied_sizes, what)
    expect(not facts["tied"], f"{what}: with tie_weights=False, lm_head.weight must be its own matrix, not "
           "tok_emb.weight")
    expect(facts["head_weight_registered"], f"{what}.lm_head.weight is not among the model's parameters")


# ---------------------------------------------------------------------------------------------
# §3 The parameter count
# ---------------------------------------------------------------------------------------------

@public_check("decoder.num_parameters", timeout=30)
def check_num_parameters(impl) -> None:
    """GPT.num_parameters counts every parameter once (tied weights included once), and leaves the vocabulary and position tables out by default."""
    for sizes, described in (({}, "tie_weights=True"), ({"tie_weights": False}, "tie_weights=False"),
                             ({"d_model": 12, "n_head": 3, "bias": False, "vocab_size": 31}, "d_model=12, bias=False")):
        model, full = _gpt(impl, **sizes)
        what = f"GPT(GPTConfig(vocab_size={full['vocab_size']}, block_size=12, n_layer=2, ..., {described}))"
        report = parameter_report(model)
        total = sum(n for _, n in report["named"])
        vocabulary = report["tok"] + report["pos"] + (0 if report["tied"] else report["head"])
        for key, call in (("all", "num_parameters(non_embedding=False)"), ("non_embedding", "num_parameters()")):
            expect(isinstance(report[key], int), f"{what}.{call} returned a {report[key]}, expected an int: use "
                   "int() or sum(p.numel() for ...)")
        if report["tied"] and report["all"] == total + report["head"]:
            raise CheckFailed(f"{what}.num_parameters(non_embedding=False) returned {report['all']}: the tied "
                              f"matrix ({report['head']} numbers) was counted twice; model.parameters() lists a "
                              "shared Parameter only once (state_dict() lists it under both names)")
        expect_equal(report["all"], total, f"{what}.num_parameters(non_embedding=False) (every parameter once)")
        expected = total - vocabulary
        if report["non_embedding"] != expected and \
                report["non_embedding"] == total - report["tok"] - (0 if report["tied"] else report["head"]):
            raise CheckFailed(f"{what}.num_parameters() returned {report['non_embedding']}: the position table "
                              f"pos_emb.weight ({report['pos']} numbers) must be left out too")
        expect_equal(report["non_embedding"], expected,
                     f"{what}.num_parameters() (all {total} minus the token table {report['tok']}, the position "
                     f"table {report['pos']}" + ("" if report["tied"] else f" and the untied head {report['head']}") + ")")
        expect_equal(report["default"], report["non_embedding"], f"{what}.num_parameters() with no argument")


# ---------------------------------------------------------------------------------------------
# §4 Next-token probabilities
# ---------------------------------------------------------------------------------------------

LN2, LN4 = math.log(2.0), math.log(4.0)
SCORES = torch.tensor([[0.0, LN2, LN4], [1000.0, 1000.0, 999.0]])
# softmax([0, ln 2, ln 4]) = [1, 2, 4] / 7; softmax([1000, 1000, 999]) = [1, 1, e^-1] / (2 + e^-1)
PROBS_T1 = torch.tensor([[1 / 7, 2 / 7, 4 / 7], [0.42231879825, 0.42231879825, 0.15536240350]])
# temperature 0.5 doubles the scores: [0, 2 ln 2, 2 ln 4] -> [1, 4, 16] / 21; [2000, 2000, 1998] -> [1, 1, e^-2] / (2 + e^-2)
PROBS_T05 = torch.tensor([[1 / 21, 4 / 21, 16 / 21], [0.46831053083, 0.46831053083, 0.06337893833]])
# temperature 2 halves them: [1, sqrt 2, 2] / (3 + sqrt 2)
PROBS_T2_ROW0 = torch.tensor([0.22654091966, 0.32037724101, 0.45308183932])


@public_check("decoder.next_token_probs", timeout=30)
def check_next_token_probs(impl) -> None:
    """next_token_probs is softmax(logits / temperature) over the last axis: exact values, large scores, -inf, any batch shape."""
    what = "next_token_probs(logits) for logits [[0, ln 2, ln 4], [1000, 1000, 999]]"
    got = impl.next_token_probs(SCORES.clone())
    expect(isinstance(got, torch.Tensor), f"{what} returned a {_type_of(got)}, expected a tensor")
    expect(not bool(torch.isnan(got).any()), f"{what} contains NaN: exp(1000) overflows; subtract each row's "
           "maximum before exponentiating (or use torch.softmax, which does)")
    _close(got, PROBS_T1, what, "Expected softmax over the last axis: [1, 2, 4] / 7 for the first row.", atol=1e-6)
    expect(got.dtype == torch.float32, f"{what} has dtype {got.dtype}, expected torch.float32")

    what = "next_token_probs(logits, temperature=0.5)"
    got = impl.next_token_probs(SCORES.clone(), temperature=0.5)
    if _matches(got, PROBS_T1, atol=1e-5):
        raise CheckFailed(f"{what} returned the temperature-1 probabilities [1, 2, 4] / 7: the temperature had no "
                          "effect. Divide the SCORES by it before the softmax (softmax(logits / T)); dividing the "
                          "probabilities afterwards changes nothing once they are normalised")
    _close(got, PROBS_T05, what, "Expected softmax(logits / 0.5): [1, 4, 16] / 21 for the first row "
           "(a low temperature sharpens the distribution).", atol=1e-6)
    got = impl.next_token_probs(SCORES[:1].clone(), temperature=2.0)
    _close(got, PROBS_T2_ROW0[None], "next_token_probs([[0, ln 2, ln 4]], temperature=2.0)",
           "Expected softmax(logits / 2) = [1, sqrt 2, 2] / (3 + sqrt 2) (a high temperature flattens it).", atol=1e-6)

    what = "next_token_probs([[0, -inf, ln 3]])"
    got = impl.next_token_probs(torch.tensor([[0.0, NEG_INF, math.log(3.0)]]))
    _close(got, torch.tensor([[0.25, 0.0, 0.75]]), what,
           "A -inf score (a token filtered out) must get probability exactly 0; the others share the mass.", atol=1e-7)

    g = torch.Generator().manual_seed(65)
    batch = _randn(g, 2, 3, 5, scale=2.0)
    got = impl.next_token_probs(batch, temperature=0.7)
    what = "next_token_probs(logits of shape (2, 3, 5), temperature=0.7)"
    expect(isinstance(got, torch.Tensor), f"{what} returned a {_type_of(got)}, expected a tensor")
    expect_equal(tuple(got.shape), (2, 3, 5), f"{what}.shape")
    _close(got.sum(-1), torch.ones(2, 3), f"{what}: the sums along the last axis",
           "Normalise over the vocabulary, the LAST axis (dim=-1).", atol=1e-6)


# ---------------------------------------------------------------------------------------------
# §5 Top-k and top-p filtering
# ---------------------------------------------------------------------------------------------

def _filter_call(impl, name: str, logits: torch.Tensor, arg, what: str):
    report = call_keeping_input(impl, name, logits, arg)
    result = report["result"]
    expect(isinstance(result, torch.Tensor), f"{what} returned a {_type_of(result)}, expected a tensor")
    expect(report["input_unchanged"], f"{what} changed its input logits in place: return a new tensor "
           "(masked_fill, not masked_fill_); the caller may still need the original scores")
    expect_equal(tuple(result.shape), tuple(logits.shape), f"{what}.shape")
    return result


TOPK_LOGITS = torch.tensor([1.0, 3.0, -2.0, 3.5, 0.0, 2.0])


@public_check("decoder.top_k", timeout=30)
def check_top_k(impl) -> None:
    """top_k_filter keeps exactly the k best scores of each row (lower id first at a tie), -inf elsewhere, without changing its input."""
    what = "top_k_filter([1, 3, -2, 3.5, 0, 2], k=3)"
    got = _filter_call(impl, "top_k_filter", TOPK_LOGITS.clone(), 3, what)
    expected = torch.tensor([NEG_INF, 3.0, NEG_INF, 3.5, NEG_INF, 2.0])   # ids 3, 1, 5 are the three best
    if _matches(got, torch.tensor([1.0, NEG_INF, -2.0, NEG_INF, 0.0, NEG_INF])):
        raise CheckFailed(f"{what} kept the three WORST scores: rank from the highest down (descending=True)")
    _close(got, expected, what, "Expected the three highest scores (3.5, 3 and 2) unchanged and -inf everywhere "
           f"else, i.e. {_fmt(expected)}.", atol=0)

    what = "top_k_filter([2, 1, 2, 2, 0], k=2) (three scores tie at 2)"
    got = _filter_call(impl, "top_k_filter", torch.tensor([2.0, 1.0, 2.0, 2.0, 0.0]), 2, what)
    kept = int(torch.isfinite(got).sum())
    expect(kept == 2, f"{what} kept {kept} tokens ({_fmt(got)}): top-k keeps EXACTLY k, even when scores tie at "
           "the boundary (a threshold such as logits < kth_value keeps every tied token)")
    _close(got, torch.tensor([2.0, NEG_INF, 2.0, NEG_INF, NEG_INF]), what,
           "At a tie the lower token id is kept: ids 0 and 2 (sort with stable=True and take the first k).", atol=0)

    rows = torch.tensor([[0.5, -1.0, 2.0, 0.0], [3.0, 4.0, -5.0, 1.0]])
    what = "top_k_filter(logits of shape (2, 4), k=2)"
    got = _filter_call(impl, "top_k_filter", rows.clone(), 2, what)
    _close(got, torch.tensor([[0.5, NEG_INF, 2.0, NEG_INF], [3.0, 4.0, NEG_INF, NEG_INF]]), what,
           "Each row keeps its own k best scores (work along the last axis).", atol=0)
    what = "top_k_filter(logits of shape (2, 4), k=1)"
    got = _filter_call(impl, "top_k_filter", rows.clone(), 1, what)
    _close(got, torch.tensor([[NEG_INF, NEG_INF, 2.0, NEG_INF], [NEG_INF, 4.0, NEG_INF, NEG_INF]]), what,
           "k=1 keeps only the best token of each row.", atol=0)
    what = "top_k_filter(logits of shape (2, 4), k=4)"
    got = _filter_call(impl, "top_k_filter", rows.clone(), 4, what)
    _close(got, rows, what, "k >= vocab_size keeps every score.", atol=0)


# Probabilities of ids 0..3: 0.1, 0.5, 0.15, 0.25. Sorted: id 1 (0.5), id 3 (0.25), id 2 (0.15), id 0 (0.1);
# the mass of the tokens ranked above each is 0, 0.5, 0.75, 0.9.
TOPP_PROBS = torch.tensor([0.1, 0.5, 0.15, 0.25], dtype=torch.float64)
TOPP_LOGITS = (TOPP_PROBS.log() + 3.0).float()      # unnormalised scores: the filter must keep them as they are
TOPP_CASES = [  # (p, ids kept, why)
    (0.6, [1, 3], "0.5 < 0.6, so id 3 (0.25) is added and the total 0.75 reaches 0.6"),
    (0.3, [1], "the most likely token alone (0.5) already reaches 0.3"),
    (0.8, [1, 2, 3], "0.5 + 0.25 = 0.75 < 0.8, so id 2 (0.15) is needed too"),
    (0.95, [0, 1, 2, 3], "0.9 < 0.95: every token is needed"),
]


def _kept(logits: torch.Tensor, ids: list[int]) -> torch.Tensor:
    out = torch.full_like(logits, NEG_INF)
    out[..., ids] = logits[..., ids]
    return out


@public_check("decoder.top_p", timeout=30)
def check_top_p(impl) -> None:
    """top_p_filter keeps the smallest set of most likely tokens whose probability reaches p (the token that crosses p included)."""
    for p, ids, why in TOPP_CASES:
        what = f"top_p_filter(logits, p={p}) for probabilities [0.1, 0.5, 0.15, 0.25]"
        got = _filter_call(impl, "top_p_filter", TOPP_LOGITS.clone(), p, what)
        expected = _kept(TOPP_LOGITS, ids)
        kept = [i for i in range(4) if math.isfinite(float(got[i]))]
        if len(kept) < len(ids) and set(kept) < set(ids):
            raise CheckFailed(f"{what} kept ids {kept}, expected {ids} ({why}): the token whose probability makes "
                              "the total reach p must be KEPT (drop a token only when the tokens ranked above it "
                              "already reach p), or the kept mass would be below p")
        if len(kept) > len(ids) and set(kept) > set(ids):
            raise CheckFailed(f"{what} kept ids {kept}, expected only {ids} ({why}): stop at the first token that "
                              "makes the total reach p, the set must be the smallest one")
        _close(got, expected, what, f"Expected ids {ids} kept with their scores unchanged, -inf elsewhere ({why}).",
               atol=1e-6)

    rows = torch.stack([TOPP_LOGITS, TOPP_LOGITS.flip(-1)])
    what = "top_p_filter(logits of shape (2, 4), p=0.6) (row 1 is row 0 reversed)"
    got = _filter_call(impl, "top_p_filter", rows.clone(), 0.6, what)
    _close(got, torch.stack([_kept(TOPP_LOGITS, [1, 3]), _kept(TOPP_LOGITS.flip(-1), [2, 0])]), what,
           "Each row gets its own nucleus; sort and cumulate along the last axis, then put the kept set back in "
           "vocabulary order.", atol=1e-6)

    what = "top_p_filter([0, -inf, 0, -inf], p=0.9)"
    got = _filter_call(impl, "top_p_filter", torch.tensor([0.0, NEG_INF, 0.0, NEG_INF]), 0.9, what)
    _close(got, torch.tensor([0.0, NEG_INF, 0.0, NEG_INF]), what,
           "Two tokens of probability 0.5 each: the first reaches 0.5 < 0.9, so the second is kept too; the -inf "
           "ones stay -inf.", atol=0)
    what = "top_p_filter(logits, p=1.0)"
    got = _filter_call(impl, "top_p_filter", TOPP_LOGITS.clone(), 1.0, what)
    _close(got, TOPP_LOGITS, what, "p=1 keeps everything.", atol=0)


# ---------------------------------------------------------------------------------------------
# §6 Sampling
# ---------------------------------------------------------------------------------------------

SAMPLE_PROBS = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
SAMPLE_LOGITS = SAMPLE_PROBS.log().float()
N_DRAWS = 4000
CHI2_LIMIT = {1: 15.1, 2: 18.4, 3: 21.1}   # chi-square critical values at p = 1e-4 (1, 2 and 3 degrees of freedom)
SAMPLE_CASES = [  # (options, exact expected distribution, how it is obtained)
    ({}, [0.1, 0.2, 0.3, 0.4], "the probabilities themselves"),
    ({"temperature": 0.5}, [1 / 30, 4 / 30, 9 / 30, 16 / 30], "p ** 2, renormalised (scores divided by 0.5)"),
    # sqrt([0.1, 0.2, 0.3, 0.4]) = [0.31623, 0.44721, 0.54772, 0.63246], divided by their sum 1.94362
    ({"temperature": 2.0}, [0.16270045345, 0.23009318787, 0.28180545179, 0.32540090690], "sqrt(p), renormalised"),
    ({"top_k": 2}, [0.0, 0.0, 3 / 7, 4 / 7], "the two best, 0.3 and 0.4, renormalised"),
    ({"top_p": 0.65}, [0.0, 0.0, 3 / 7, 4 / 7], "the nucleus: 0.4 + 0.3 = 0.7 reaches 0.65"),
    ({"temperature": 0.5, "top_p": 0.75}, [0.0, 0.0, 9 / 25, 16 / 25],
     "temperature first: probabilities [1, 4, 9, 16] / 30, whose nucleus for 0.75 is 16/30 + 9/30"),
]


def _describe_options(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"


def _chi_square(counts: torch.Tensor, probs: list[float], n: int) -> tuple[float, int]:
    stat, dof = 0.0, -1
    for count, p in zip(counts.tolist(), probs):
        if p > 0:
            stat += (count - n * p) ** 2 / (n * p)
            dof += 1
    return stat, dof


@public_check("decoder.sample", timeout=30)
def check_sample(impl) -> None:
    """sample_next_token: greedy at temperature 0, draws that follow the exact distribution (temperature, top-k, top-p), reproducible with a generator."""
    with hold_fixed("decoder", impl, "next_token_probs", "top_k_filter", "top_p_filter"):
        what = "sample_next_token(logits, temperature=0) for rows [1, 5, 5, 2], [0, 0, 0, 0], [-1, -3, -2, -1]"
        greedy = impl.sample_next_token(torch.tensor([[1.0, 5.0, 5.0, 2.0], [0.0, 0.0, 0.0, 0.0],
                                                      [-1.0, -3.0, -2.0, -1.0]]), temperature=0.0)
        expect(isinstance(greedy, torch.Tensor), f"{what} returned a {_type_of(greedy)}, expected a tensor of ids")
        expect(not greedy.is_floating_point(), f"{what} returned dtype {greedy.dtype}: token ids are integers (int64)")
        expect_equal(greedy.tolist(), [1, 0, 0], f"{what} (greedy: the highest score, the lowest id at a tie)")

        logits = SAMPLE_LOGITS.expand(N_DRAWS, 4).clone()
        for options, probs, how in SAMPLE_CASES:
            what = (f"sample_next_token(logits, {_describe_options(options)}) drawn {N_DRAWS} times for probabilities "
                    "[0.1, 0.2, 0.3, 0.4]")
            ids = sample_with_seed(impl, logits, 606, 1, options)["ids"]
            expect(isinstance(ids, torch.Tensor), f"{what}: returned a {_type_of(ids)}, expected a tensor of ids")
            expect_equal(tuple(ids.shape), (N_DRAWS,), f"{what}: the shape (one id per row of logits)")
            expect(not ids.is_floating_point(), f"{what}: returned dtype {ids.dtype}; token ids are integers")
            expect(bool(((ids >= 0) & (ids < 4)).all()), f"{what}: returned ids outside 0..3")
            counts = torch.bincount(ids.long(), minlength=4)
            banned = [i for i, p in enumerate(probs) if p == 0 and counts[i] > 0]
            expect(not banned, f"{what}: drew ids {banned}, which have probability 0 here ({how}); counts "
                   f"{counts.tolist()}")
            stat, dof = _chi_square(counts, probs, N_DRAWS)
            expected_counts = [round(N_DRAWS * p) for p in probs]
            expect(stat <= CHI2_LIMIT[dof], f"{what}: the counts {counts.tolist()} are far from the expected "
                   f"{expected_counts} ({how}; chi-square {stat:.1f} > {CHI2_LIMIT[dof]}). Divide the scores by the "
                   "temperature, then apply top-k, then top-p, then take the softmax and draw")

        what = "sample_next_token(logits, temperature=0.001)"
        ids = sample_with_seed(impl, logits[:500], 3, 1, {"temperature": 0.001})["ids"]
        expect(bool((ids == 3).all()), f"{what} drew ids other than the best one (3): as the temperature goes to 0, "
               "sampling becomes greedy")

        first = sample_with_seed(impl, logits[:200], 42, 1, {})["ids"]
        again = sample_with_seed(impl, logits[:200], 42, 2, {})["ids"]
        expect(torch.equal(first, again), "sample_next_token with generator=torch.Generator().manual_seed(42) gave "
               "different tokens on two calls (PyTorch's global seed differed): draw with the generator you are "
               "given (draw_from(probs, generator)), not with the global random state")
        other = sample_with_seed(impl, logits[:200], 43, 1, {})["ids"]
        expect(not torch.equal(first, other), "sample_next_token gave the same 200 tokens with seeds 42 and 43: the "
               "draws must come from the generator")


# ---------------------------------------------------------------------------------------------
# §7 The KV cache
# ---------------------------------------------------------------------------------------------

@public_check("decoder.kv_cache", timeout=30)
def check_kv_cache(impl) -> None:
    """KVCache stores keys and values in order and advances; cached generation equals generation without a cache."""
    g = torch.Generator().manual_seed(68)
    cache = impl.KVCache(8)
    stored_k, stored_v = [], []
    for step, n in enumerate((5, 1, 2)):
        k, v = _randn(g, 2, 3, n, 4), _randn(g, 2, 3, n, 4)
        stored_k.append(k)
        stored_v.append(v)
        length = sum(t.shape[2] for t in stored_k)
        what = f"KVCache(8).update(k, v) with k, v of shape (2, 3, {n}, 4), after {length - n} stored positions"
        result = cache.update(k, v)
        expect(isinstance(result, (tuple, list)) and len(result) == 2,
               f"{what} returned a {_type_of(result)}, expected the pair (keys, values)")
        keys, values = result
        got_length = cache.length
        if got_length == length - n:
            raise CheckFailed(f"{what}: cache.length is still {got_length}: update must move it forward by the "
                              f"number of new tokens ({n}), or the next token overwrites this one and its position "
                              "is wrong")
        expect_equal(got_length, length, f"{what}: cache.length")
        expect(isinstance(keys, torch.Tensor), f"{what}: the keys are a {_type_of(keys)}, expected a tensor")
        if tuple(keys.shape) == (2, 3, n, 4) and step > 0:
            raise CheckFailed(f"{what} returned the new keys only, shape {tuple(keys.shape)}: return every key "
                              f"stored so far, shape (2, 3, {length}, 4), so that the new tokens attend to the past")
        _close(keys, torch.cat(stored_k, dim=2), f"{what}: the keys",
               "Expected every key so far in order: the stored ones, then the new ones (along dim 2).", atol=0)
        _close(values, torch.cat(stored_v, dim=2), f"{what}: the values",
               "Expected every value so far in order: the stored ones, then the new ones (along dim 2).", atol=0)

    # A model fed one token at a time: each block must give the output it gives without a cache.
    model, sizes = _gpt(impl, n_layer=2, vocab_size=17, block_size=12)
    idx = torch.tensor([[4, 16, 0, 9, 9, 3, 12, 1], [7, 2, 11, 5, 14, 0, 6, 13]])
    run = cached_steps(model, idx, [1] * 8)
    tok, pos = run["tok"], run["pos"]
    for t, step in enumerate(run["steps"]):
        what = f"GPT.features(idx[:, {t}:{t + 1}], kv_cache=cache) after {t} cached tokens (2 blocks)"
        lengths = step["lengths"]
        expect(all(length == t + 1 for length in lengths), f"{what}: the caches' lengths are {lengths}, expected "
               f"{t + 1} each: every block appends the new token's keys and values to its own cache")
        x0 = step["block_in"][0]
        expect(x0 is not None, f"{what}: blocks[0] was not called")
        if t > 0 and _matches(x0, tok[idx[:, t:t + 1]] + pos[0:1]):
            raise CheckFailed(f"{what}: the new token got the vector of position 0. With a cache, idx holds only the "
                              "new tokens, at positions start .. start + T - 1 with start = kv_cache[0].length: use "
                              "pos_emb.weight[start:start + T]")
        _close(x0, run["block0_in_no_cache"][:, t:t + 1], f"{what}: the input of blocks[0]",
               f"Expected what blocks[0] receives at position {t} without a cache: the token's vector plus the "
               f"vector of position {t} (the number of tokens already cached).")
        for i in range(2):
            _close(step["block_out"][i], step["block_out_no_cache"][i],
                   f"{what}: the output of blocks[{i}] for the new token",
                   f"Expected what blocks[{i}] gives for that token without a cache, reading the whole sequence: "
                   f"the attention must see the keys and values of all {t + 1} tokens (pass block i its own "
                   "cache, kv_cache[i]).")

    # Greedy generation with and without the cache: the same tokens.
    with hold_fixed("decoder", impl, "sample_next_token"):
        small, _ = _gpt(impl, n_layer=1, vocab_size=17, block_size=12)
        prompt = torch.tensor([[5], [12]])
        with_cache = small.generate(prompt, 9, temperature=0.0, use_cache=True)
        without = small.generate(prompt, 9, temperature=0.0, use_cache=False)
    expect(isinstance(with_cache, torch.Tensor) and tuple(with_cache.shape) == (2, 10),
           f"model.generate(prompt (2, 1), 9, temperature=0, use_cache=True) returned "
           f"{tuple(with_cache.shape) if isinstance(with_cache, torch.Tensor) else _type_of(with_cache)}, expected (2, 10)")
    expect_equal(with_cache.tolist(), without.tolist(),
                 "greedy model.generate(prompt, 9, use_cache=True) (it must equal use_cache=False)")


# ---------------------------------------------------------------------------------------------
# §8 The decoder layer with cross-attention
# ---------------------------------------------------------------------------------------------

DECODER_NAMES = ({"self_attn.": "self_attn.", "multihead_attn.": "cross_attn."},
                 {"linear1": "ff.linear1", "linear2": "ff.linear2", "norm1": "norm1", "norm2": "norm2",
                  "norm3": "norm3"})


def _torch_decoder_layer(norm_first: bool, seed: int, d_model: int = 16, n_heads: int = 4,
                         d_ff: int = 24) -> nn.TransformerDecoderLayer:
    layer = nn.TransformerDecoderLayer(d_model, n_heads, d_ff, dropout=0.0, batch_first=True, norm_first=norm_first)
    return _fill_(layer, seed)


def _torch_decoder_run(layer, x, memory, grad_out=None, *, causal=True, padding_mask=None,
                       memory_padding_mask=None):
    x = x.clone().requires_grad_(True)
    memory = memory.clone().requires_grad_(True)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1]) if causal else None
    # PyTorch's key padding masks say True = "ignore": the opposite of the course's convention.
    tgt_pad = None if padding_mask is None else (~padding_mask).float().masked_fill(~padding_mask, NEG_INF)
    mem_pad = None if memory_padding_mask is None else \
        (~memory_padding_mask).float().masked_fill(~memory_padding_mask, NEG_INF)
    out = layer(x, memory, tgt_mask=tgt_mask, tgt_is_causal=causal, tgt_key_padding_mask=tgt_pad,
                memory_key_padding_mask=mem_pad)
    if grad_out is None:
        return out.detach()
    layer.zero_grad(set_to_none=True)
    out.backward(grad_out)
    return out.detach(), x.grad.detach(), memory.grad.detach()


def _lengths_mask(lengths: list[int], size: int) -> torch.Tensor:
    return torch.tensor([[i < n for i in range(size)] for n in lengths])


def _diagnose_decoder_layer(got, layer, x, memory, kwargs, what) -> None:
    if kwargs.get("memory_padding_mask") is not None:
        without = dict(kwargs, memory_padding_mask=None)
        if _matches(got, _torch_decoder_run(layer, x, memory, **without)):
            raise CheckFailed(f"{what}: the cross-attention looks at the padded source positions too: pass "
                              "memory_padding_mask[:, None, None, :] as the cross-attention's mask")
    if kwargs.get("padding_mask") is not None:
        without = dict(kwargs, padding_mask=None)
        if _matches(got, _torch_decoder_run(layer, x, memory, **without)):
            raise CheckFailed(f"{what}: the self-attention looks at the padded target positions too: pass "
                              "padding_mask[:, None, None, :] as its mask (together with is_causal)")
    if kwargs.get("causal", True) and _matches(got, _torch_decoder_run(layer, x, memory, **dict(kwargs, causal=False))):
        raise CheckFailed(f"{what}: with causal=True the self-attention must hide the future (is_causal=causal)")
    other = _torch_decoder_layer(not layer.norm_first, seed=0)
    other.load_state_dict(layer.state_dict())
    if _matches(got, _torch_decoder_run(other, x, memory, **kwargs)):
        order = "pre-norm (norm before each sub-layer)" if layer.norm_first else "post-norm (norm after each residual)"
        raise CheckFailed(f"{what}: you computed the other norm order; with norm_first={layer.norm_first} the layer is "
                          f"{order}")


@public_check("decoder.decoder_layer", timeout=30)
def check_decoder_layer(impl) -> None:
    """DecoderLayer equals nn.TransformerDecoderLayer (post- and pre-norm) with causal and padding masks: outputs and gradients."""
    g = torch.Generator().manual_seed(62)
    x, memory = _randn(g, 3, 5, 16), _randn(g, 3, 7, 16)
    grad_out = _randn(g, 3, 5, 16)
    padding = _lengths_mask([5, 3, 4], 5)
    memory_padding = _lengths_mask([7, 4, 2], 7)
    cases = [
        (False, {"causal": True, "padding_mask": padding, "memory_padding_mask": memory_padding},
         "causal=True, padding_mask for lengths [5, 3, 4], memory_padding_mask for lengths [7, 4, 2]"),
        (True, {"causal": True, "padding_mask": padding, "memory_padding_mask": memory_padding},
         "causal=True, padding_mask for lengths [5, 3, 4], memory_padding_mask for lengths [7, 4, 2]"),
        (True, {"causal": False}, "causal=False, no masks"),
    ]
    for index, (norm_first, kwargs, described) in enumerate(cases):
        layer = _torch_decoder_layer(norm_first, seed=620 + index)
        ours = impl.DecoderLayer(16, 4, 24, norm_first=norm_first)
        _load(ours, _renamed(layer.state_dict(), *DECODER_NAMES), "DecoderLayer")
        what = (f"DecoderLayer(16, 4, 24, norm_first={norm_first})(x, memory, {described}) for x (3, 5, 16) "
                "and memory (3, 7, 16)")
        report = decoder_layer_forward_backward(ours, x, memory, grad_out, kwargs)
        _expect_forward_report(report, (3, 5, 16), what)
        expect(report["input_grads"][1] is not None and float(report["input_grads"][1].abs().sum()) > 0,
               f"{what}: no gradient reaches memory, so the output does not depend on it: the cross-attention "
               "takes its queries from the target and its keys and values from memory: cross_attn(h, memory, memory)")
        expected, x_grad, memory_grad = _torch_decoder_run(layer, x, memory, grad_out, **kwargs)
        if not _matches(report["out"], expected):
            _diagnose_decoder_layer(report["out"], layer, x, memory, kwargs, what)
        _close(report["out"], expected, what,
               "Expected nn.TransformerDecoderLayer with the same weights: self-attention (causal, padded keys "
               "hidden), then cross-attention (queries from x, keys and values from memory, padded source "
               "positions hidden), then the feed-forward, each in a residual with its norm.")
        _compare_grads(report, [x_grad, memory_grad], ["x", "memory"],
                       _grads_under_our_names(layer, *DECODER_NAMES), what)
