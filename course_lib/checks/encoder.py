"""Public checks for notebook 05 (the encoder): ``check("encoder.layer_norm")`` and friends.

The judge compares the learner's modules with PyTorch's own, loaded with the same weights:
``nn.LayerNorm``, ``nn.TransformerEncoderLayer`` (its feed-forward block, and the whole layer with
``norm_first`` False and True, a padding mask, ``batch_first``) and ``nn.TransformerEncoder``;
``F.cross_entropy`` for the loss; statistics and properties for the random corruption. These
oracles are PyTorch, computed here in the judge; none of this file implements an exercise.

One bug costs one check: the layer checks replace the learner's LayerNorm and FeedForward by
PyTorch's inside the layer (they test the wiring: residuals and where the norms go), and the
stack check replaces the learner's layers by PyTorch's (it tests the stack: distinct registered
layers, the padding mask handed to each, the final norm). The attention comes from notebook 04
(in a graded release, the reference attention ships with the assignment).

The probes below run in the worker, next to the learner's code: they swap those parts, run a
forward and a backward pass, and report what happened. They hold no expected values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    Handle,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    probe,
    public_check,
)
from course_lib.device import get_device

IGNORE = -100

# ---------------------------------------------------------------------------------------------
# Probes (run in the worker, on the real objects; they report, they do not judge)
# ---------------------------------------------------------------------------------------------


def _grads(module: nn.Module) -> dict:
    return {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in module.named_parameters()}


@probe
def module_facts(module) -> dict:
    """What kind of object the learner built: nn.Module?, its parameters' names and shapes."""
    is_module = isinstance(module, nn.Module)
    params = dict(module.named_parameters()) if is_module else {}
    return {
        "is_module": is_module,
        "type": type(module).__name__,
        "shapes": {name: list(p.shape) for name, p in params.items()},
        "trainable": {name: bool(p.requires_grad) for name, p in params.items()},
        "n_parameters": sum(p.numel() for p in params.values()),
    }


@probe
def forward_backward(module, x, grad_out, *args) -> dict:
    """Run module(x, *args), backpropagate grad_out; report output, input gradient and parameter gradients."""
    x = x.detach().clone().requires_grad_(True)
    x_before = x.detach().clone()
    for p in module.parameters():
        p.grad = None
    out = module(x, *args)
    report = {"out": out.detach() if isinstance(out, torch.Tensor) else out,
              "x_unchanged": bool(torch.equal(x.detach(), x_before)),
              "requires_grad": bool(isinstance(out, torch.Tensor) and out.requires_grad)}
    if isinstance(out, torch.Tensor) and out.requires_grad and out.shape == grad_out.shape:
        out.backward(grad_out)
        report["x_grad"] = None if x.grad is None else x.grad.detach()
        report["param_grads"] = _grads(module)
    return report


@probe
def train_eval_outputs(module, x) -> dict:
    """Two calls in training mode, one in evaluation mode (dropout on, then off)."""
    module.train()
    first, second = module(x), module(x)
    module.eval()
    with torch.no_grad():
        evaluated = module(x)
    module.train()
    return {"train_1": first.detach(), "train_2": second.detach(), "eval": evaluated.detach()}


class _PyTorchFeedForward(nn.Module):
    """PyTorch's own feed-forward block (``nn.TransformerEncoderLayer._ff_block``) on given weights."""

    def __init__(self, linear1: nn.Linear, linear2: nn.Linear, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(linear1.in_features, linear1.out_features, bias=linear1.bias is not None)
        self.linear2 = nn.Linear(linear2.in_features, linear2.out_features, bias=linear2.bias is not None)
        self.linear1.load_state_dict(linear1.state_dict())
        self.linear2.load_state_dict(linear2.state_dict())
        self.to(device=linear1.weight.device, dtype=linear1.weight.dtype)
        self.activation = F.gelu if activation == "gelu" else F.relu
        self.dropout = nn.Identity()
        self.dropout2 = nn.Identity()

    def forward(self, x):
        return nn.TransformerEncoderLayer._ff_block(self, x)


def _pytorch_norm(norm) -> nn.LayerNorm:
    """An nn.LayerNorm holding the learner's LayerNorm's weight, bias and eps."""
    torch_norm = nn.LayerNorm(norm.weight.shape[0], eps=getattr(norm, "eps", 1e-5))
    torch_norm.to(device=norm.weight.device, dtype=norm.weight.dtype)
    with torch.no_grad():
        torch_norm.weight.copy_(norm.weight)
        torch_norm.bias.copy_(norm.bias)
    return torch_norm


@probe
def layer_with_pytorch_parts(layer, x, padding_mask, grad_out, activation: str = "relu") -> dict:
    """Put PyTorch's LayerNorm and feed-forward (same weights) inside the learner's EncoderLayer,
    then run forward(x, padding_mask) and backward(grad_out)."""
    layer.norm1 = _pytorch_norm(layer.norm1)
    layer.norm2 = _pytorch_norm(layer.norm2)
    layer.ff = _PyTorchFeedForward(layer.ff.linear1, layer.ff.linear2, activation)
    return forward_backward.function(layer, x, grad_out, padding_mask)


@probe
def stack_facts(encoder) -> dict:
    """How the learner's Encoder holds its layers and its final norm."""
    layers = getattr(encoder, "layers", None)
    items = list(layers) if isinstance(layers, (nn.ModuleList, list, tuple)) else []
    params = list(encoder.parameters()) if isinstance(encoder, nn.Module) else []
    norm = getattr(encoder, "norm", "missing")
    return {
        "has_layers": layers is not None,
        "layers_type": type(layers).__name__,
        "is_module_list": isinstance(layers, nn.ModuleList),
        "n_layers": len(items),
        "n_distinct": len({id(layer) for layer in items}),
        "layer_types": [type(layer).__name__ for layer in items],
        "norm_type": "missing" if isinstance(norm, str) else type(norm).__name__,
        "n_parameters": sum(p.numel() for p in params),
        "n_distinct_parameters": len({id(p) for p in params}),
        "n_parameter_tensors": len(params),
    }


class _PyTorchLayer(nn.Module):
    """PyTorch's nn.TransformerEncoderLayer, called the way the course's EncoderLayer is."""

    def __init__(self, inner: nn.TransformerEncoderLayer) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x, padding_mask=None):
        return self.inner(x, src_key_padding_mask=None if padding_mask is None else ~padding_mask)


def _pytorch_layer_from(layer, n_heads: int, activation: str) -> _PyTorchLayer:
    """nn.TransformerEncoderLayer with the weights of the learner's EncoderLayer."""
    attn = layer.self_attn
    d_model = attn.q_proj.weight.shape[1]
    d_ff = layer.ff.linear1.weight.shape[0]
    bias = attn.q_proj.bias is not None
    inner = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=bool(layer.norm_first), bias=bias,
                                       layer_norm_eps=getattr(layer.norm1, "eps", 1e-5))
    inner.to(device=attn.q_proj.weight.device, dtype=attn.q_proj.weight.dtype)
    with torch.no_grad():
        inner.self_attn.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
        if bias:
            inner.self_attn.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        for ours, theirs in [(attn.out_proj, inner.self_attn.out_proj), (layer.ff.linear1, inner.linear1),
                             (layer.ff.linear2, inner.linear2), (layer.norm1, inner.norm1), (layer.norm2, inner.norm2)]:
            theirs.weight.copy_(ours.weight)
            if theirs.bias is not None:
                theirs.bias.copy_(ours.bias)
    return _PyTorchLayer(inner)


@probe
def stack_with_pytorch_layers(encoder, x, padding_mask, grad_out, n_heads: int, activation: str = "relu",
                              device: str = "cpu") -> dict:
    """Replace each of the learner's layers (and the final norm) by PyTorch's with the same
    weights, move the encoder to `device`, run forward(x, padding_mask) and backward(grad_out)."""
    for index in range(len(encoder.layers)):
        encoder.layers[index] = _pytorch_layer_from(encoder.layers[index], n_heads, activation)
    if getattr(encoder, "norm", None) is not None:
        encoder.norm = _pytorch_norm(encoder.norm)
    encoder.to(device)
    x = x.to(device)
    padding_mask = None if padding_mask is None else padding_mask.to(device)
    report = forward_backward.function(encoder, x, grad_out.to(device), padding_mask)
    report.pop("param_grads", None)
    return {key: (value.cpu() if isinstance(value, torch.Tensor) else value) for key, value in report.items()}


@probe
def corrupt_with_seed(impl, ids, seed: int, **kwargs) -> dict:
    """Call impl.mlm_corrupt(ids, ..., generator=torch.Generator().manual_seed(seed)); report the
    results, whether `ids` was changed, and whether the global random state moved."""
    generator = torch.Generator().manual_seed(seed)
    generator_start = generator.get_state()
    global_start = torch.random.get_rng_state()
    ids_before = ids.clone()
    result = impl.mlm_corrupt(ids, generator=generator, **kwargs)
    report = {
        "ids_unchanged": bool(torch.equal(ids, ids_before)),
        "global_rng_unchanged": bool(torch.equal(torch.random.get_rng_state(), global_start)),
        "generator_used": not bool(torch.equal(generator.get_state(), generator_start)),
        "is_pair": isinstance(result, tuple) and len(result) == 2,
    }
    if report["is_pair"]:
        report["corrupted"], report["labels"] = result
    else:
        report["type"] = type(result).__name__
    return report


@probe
def loss_and_grad(impl, logits, labels) -> dict:
    """impl.mlm_loss(logits, labels) and the gradient of that loss with respect to the logits."""
    logits = logits.detach().clone().requires_grad_(True)
    loss = impl.mlm_loss(logits, labels)
    report = {"loss": loss.detach() if isinstance(loss, torch.Tensor) else loss,
              "requires_grad": bool(isinstance(loss, torch.Tensor) and loss.requires_grad)}
    if report["requires_grad"] and loss.dim() == 0:
        loss.backward()
        report["grad"] = None if logits.grad is None else logits.grad.detach()
    return report


# ---------------------------------------------------------------------------------------------
# Judge-side helpers
# ---------------------------------------------------------------------------------------------

def _randn(generator: torch.Generator, *shape: int, scale: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


def _expect_module(facts: dict, what: str) -> None:
    expect(facts["is_module"], f"{what} is a {facts['type']}, expected an nn.Module (subclass nn.Module and "
           "call super().__init__() first)")


def _expect_report(report: dict, shape: tuple, what: str) -> None:
    """The output of a forward_backward probe is a tensor of the right shape that carries a gradient."""
    out = report["out"]
    expect(isinstance(out, torch.Tensor), f"{what} returned a "
           f"{out.type_name if isinstance(out, Handle) else type(out).__name__}, expected a torch.Tensor")
    expect_equal(tuple(out.shape), tuple(shape), f"{what}.shape")
    expect(report["x_unchanged"], f"{what} modified its input x in place: build new tensors (y = x + ...) "
           "instead of writing into x (x += ..., x[...] = ...)")
    expect(report["requires_grad"], f"{what} does not require grad although the input and the parameters do: "
           "compute it from them with tensor operations (no .detach(), .data, .item() or torch.no_grad())")


def _close(got, expected, what: str, advice: str, *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {advice}".strip()) from None


def _matches(got, candidate: torch.Tensor, atol: float = 1e-4) -> bool:
    """True if `got` has `candidate`'s shape and values (to recognise a known mistake)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    return bool(((got.detach().double().cpu() - candidate.detach().double().cpu()).abs() <= atol).all())


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in t.reshape(-1).tolist()) + "]"


# ---------------------------------------------------------------------------------------------
# §1 LayerNorm
# ---------------------------------------------------------------------------------------------

LN_HINT = ("Expected, for each vector (last dimension): (x - mean) / sqrt(var + eps) * weight + bias, with the "
           "biased variance var = mean((x - mean) ** 2), as nn.LayerNorm computes.")

# Four vectors of 6 features (one per row): ordinary values, a constant vector, a spread-out
# one, and one with a tiny variance (1e-5 scale, where eps matters).
LN_X = torch.tensor([
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
    [-3.0, 0.0, 3.0, 0.5, -0.5, 10.0],
    [0.003, -0.003, 0.003, -0.003, 0.003, -0.003],
])
LN_X_TEXT = ("x = [[1, 2, 3, 4, 5, 6], [2, 2, 2, 2, 2, 2], [-3, 0, 3, 0.5, -0.5, 10], "
             "[0.003, -0.003, 0.003, -0.003, 0.003, -0.003]]")


def _diagnose_layer_norm(got: torch.Tensor, x: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Targeted messages for known mistakes (weight 1, bias 0, so `expected` is x normalised)."""
    if _matches(got, expected):
        return
    g = got.detach().double()
    d = x.shape[-1]
    ratio = math.sqrt((d - 1) / d)
    if _matches(g[:3], expected[:3] * ratio, atol=1e-3):
        raise CheckFailed(f"{what}: every value is sqrt((d-1)/d) = {ratio:.4f} times the expected one: you used the "
                          "unbiased variance (dividing by d - 1, torch.var's default); LayerNorm divides by d "
                          "(x.var(dim=-1, unbiased=False), or the mean of the squared deviations)")
    row_means = g.mean(dim=-1)
    if not bool((row_means.abs() < 1e-3).all()):
        raise CheckFailed(f"{what}: after normalising (weight 1, bias 0) each vector should have mean 0 over its "
                          f"features, but the row means are {_fmt(row_means)}: take the mean and the variance over "
                          "the LAST dimension (dim=-1, keepdim=True), one pair of statistics per vector, not over "
                          "the batch or the positions")
    if _matches(g[:3], expected[:3], atol=1e-3) and not _matches(g[3], expected[3], atol=1e-3):
        raise CheckFailed(f"{what}: right for ordinary vectors but wrong for the vector with a tiny variance "
                          f"(row 3: got {_fmt(g[3])}, expected {_fmt(expected[3])}): eps goes INSIDE the square "
                          "root, (x - mean) / sqrt(var + eps), not (x - mean) / (std + eps)")


@public_check("encoder.layer_norm")
def check_layer_norm(impl) -> None:
    """LayerNorm equals nn.LayerNorm: outputs and gradients, with and without a learned scale and shift, any batch shape."""
    ln = impl.LayerNorm(6)
    facts = module_facts(ln)
    _expect_module(facts, "LayerNorm(6)")
    expect_equal(facts["shapes"], {"weight": [6], "bias": [6]}, "the parameters of LayerNorm(6) (name: shape)")

    # 1. weight 1, bias 0 (the initial values): the output is the normalised input.
    reference = nn.LayerNorm(6)
    expected = reference(LN_X).detach()
    grad = torch.zeros(4, 6)
    report = forward_backward(ln, LN_X, grad)
    what = f"LayerNorm(6) (weight 1, bias 0) on {LN_X_TEXT}"
    _expect_report(report, (4, 6), what)
    _diagnose_layer_norm(report["out"], LN_X, expected, what)
    _close(report["out"], expected, what, LN_HINT, atol=1e-4)

    # 2. A learned scale and shift, a 3-D batch, and gradients for everything.
    g = torch.Generator().manual_seed(5)
    weight, bias = 1.0 + _randn(g, 6, scale=0.5), _randn(g, 6, scale=0.5)
    x = _randn(g, 2, 3, 6, scale=2.0) + 1.0
    grad_out = _randn(g, 2, 3, 6)
    ln.load_state_dict({"weight": weight, "bias": bias})
    reference = nn.LayerNorm(6)
    with torch.no_grad():
        reference.weight.copy_(weight)
        reference.bias.copy_(bias)
    x_ref = x.clone().requires_grad_(True)
    out_ref = reference(x_ref)
    out_ref.backward(grad_out)
    report = forward_backward(ln, x, grad_out)
    what = "LayerNorm(6) with weight and bias loaded, on x of shape (2, 3, 6)"
    _expect_report(report, (2, 3, 6), what)
    _close(report["out"], out_ref.detach(), what, LN_HINT + " Use self.weight (scale) and self.bias (shift).", atol=1e-4)
    expect(report.get("x_grad") is not None, f"{what}: no gradient reached x: compute the output from x with "
           "differentiable tensor operations")
    _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x",
           "The forward values are right, so look for a .detach() or a statistic computed without gradient.",
           atol=1e-4)
    grads = report["param_grads"]
    for name in ("weight", "bias"):
        expect(grads.get(name) is not None, f"{what}: self.{name}.grad is None after backward: use self.{name} "
               "itself in forward")
        _close(grads[name], getattr(reference, name).grad, f"{what}: the gradient of self.{name}", "", atol=1e-4)

    # 3. The dtype follows the input, and another eps is honoured.
    ln64 = impl.LayerNorm(6, eps=0.5)
    out64 = ln64(LN_X.double())
    what = "LayerNorm(6, eps=0.5) on a float64 x"
    expect(isinstance(out64, torch.Tensor) and out64.dtype == torch.float64,
           f"{what} returned {getattr(out64, 'dtype', type(out64).__name__)}, expected float64: do not convert the input")
    _close(out64, nn.LayerNorm(6, eps=0.5).double()(LN_X.double()).detach(), what,
           "Use self.eps (not a hard-coded 1e-5).", atol=1e-7)


# ---------------------------------------------------------------------------------------------
# §2 FeedForward
# ---------------------------------------------------------------------------------------------

def _pytorch_feed_forward(state: dict, activation: str, dtype=torch.float32) -> nn.Module:
    """PyTorch's encoder layer whose linear1/linear2 hold `state` (its _ff_block is the oracle)."""
    d_model, d_ff = state["linear1.weight"].shape[1], state["linear1.weight"].shape[0]
    layer = nn.TransformerEncoderLayer(d_model, 1, d_ff, dropout=0.0, activation=activation, batch_first=True)
    layer.to(dtype)
    with torch.no_grad():
        for name, value in state.items():
            layer.get_parameter(name).copy_(value)
    return layer


def _feed_forward_case(impl, d_model: int, d_ff: int, activation: str, seed: int, shape: tuple) -> None:
    g = torch.Generator().manual_seed(seed)
    state = {"linear1.weight": _randn(g, d_ff, d_model, scale=0.5), "linear1.bias": _randn(g, d_ff, scale=0.5),
             "linear2.weight": _randn(g, d_model, d_ff, scale=0.5), "linear2.bias": _randn(g, d_model, scale=0.5)}
    ff = impl.FeedForward(d_model, d_ff, activation=activation)
    ff.load_state_dict(state)
    torch_ff = _pytorch_feed_forward(state, activation)
    x = _randn(g, *shape, d_model)
    grad_out = _randn(g, *shape, d_model)
    x_ref = x.clone().requires_grad_(True)
    out_ref = torch_ff._ff_block(x_ref)
    out_ref.backward(grad_out)
    report = forward_backward(ff, x, grad_out)
    what = f"FeedForward({d_model}, {d_ff}, activation={activation!r}) on x of shape {tuple(x.shape)}"
    _expect_report(report, tuple(x.shape), what)
    got = report["out"]
    with torch.no_grad():
        no_activation = F.linear(F.linear(x, state["linear1.weight"], state["linear1.bias"]),
                                 state["linear2.weight"], state["linear2.bias"])
    if _matches(got, no_activation):
        raise CheckFailed(f"{what}: the output is linear2(linear1(x)), with no nonlinearity between the two layers: "
                          f"apply self.activation ({activation}) to the widened vector. Without it the two layers "
                          "collapse into one linear map.")
    if _matches(got, out_ref.detach() + x):
        raise CheckFailed(f"{what}: the output is x + the expected one: FeedForward returns the network's output "
                          "only; the residual connection belongs to the encoder layer (§3)")
    _close(got, out_ref.detach(), what,
           f"Expected linear2(dropout({activation}(linear1(x)))): widen, nonlinearity, project back "
           "(and nothing after linear2).", atol=1e-5)
    _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x", "", atol=1e-5)
    for name in ("linear1.weight", "linear2.weight", "linear1.bias", "linear2.bias"):
        theirs = torch_ff.get_parameter(name).grad
        expect(report["param_grads"].get(name) is not None, f"{what}: {name}.grad is None after backward")
        _close(report["param_grads"][name], theirs, f"{what}: the gradient of {name}", "", atol=1e-5)


@public_check("encoder.feed_forward")
def check_feed_forward(impl) -> None:
    """FeedForward equals the feed-forward block of nn.TransformerEncoderLayer (ReLU and GELU), position by position, with dropout only in training."""
    _feed_forward_case(impl, 4, 8, "relu", seed=1, shape=(2, 3))
    _feed_forward_case(impl, 6, 10, "gelu", seed=2, shape=(5,))

    # Position-wise: changing the token at one position changes the output at that position only.
    ff = impl.FeedForward(4, 8)
    g = torch.Generator().manual_seed(3)
    x = _randn(g, 1, 5, 4)
    x_changed = x.clone()
    x_changed[0, 2] += 1.0
    out, out_changed = ff(x), ff(x_changed)
    changed = ((out - out_changed).abs() > 1e-6).any(dim=-1)[0]
    expect_equal(changed.tolist(), [False, False, True, False, False],
                 "FeedForward(4, 8): which positions' outputs change when the input at position 2 changes "
                 "(the same network runs on every position separately)")

    # The paper's sizes: 512 -> 2048 -> 512.
    facts = module_facts(impl.FeedForward(512, 2048))
    _expect_module(facts, "FeedForward(512, 2048)")
    expect_equal(facts["n_parameters"], 2_099_712, "the number of parameters of FeedForward(512, 2048) "
                 "(512*2048 + 2048 + 2048*512 + 512)")

    # Dropout acts in training mode only.
    ff = impl.FeedForward(4, 64, dropout=0.5)
    x = _randn(g, 3, 4)
    outs = train_eval_outputs(ff, x)
    reference = impl.FeedForward(4, 64, dropout=0.0)
    reference.load_state_dict(ff.state_dict())
    plain = reference(x)
    what = "FeedForward(4, 64, dropout=0.5)"
    _close(outs["eval"], plain.detach(), f"{what} in eval mode",
           "In eval mode dropout must do nothing: use self.dropout (an nn.Dropout, which knows the mode), "
           "not F.dropout(..., training=True).", atol=1e-5)
    expect(not torch.allclose(outs["train_1"], outs["train_2"]),
           f"{what} in training mode gave the same output twice: apply self.dropout to the widened vector, "
           "after the activation")


# ---------------------------------------------------------------------------------------------
# §3-4 EncoderLayer, post-norm and pre-norm
# ---------------------------------------------------------------------------------------------

def _pytorch_encoder_layer(d_model: int, n_heads: int, d_ff: int, *, norm_first: bool, activation: str,
                           seed: int, bias: bool = True, dtype=torch.float32) -> nn.TransformerEncoderLayer:
    """nn.TransformerEncoderLayer with random weights, including non-trivial LayerNorm weights."""
    layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=norm_first, bias=bias).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("norm") and name.endswith("weight"):
                p.copy_(1.0 + _randn(g, *p.shape, scale=0.3, dtype=dtype))
            elif name.endswith("bias"):
                p.copy_(_randn(g, *p.shape, scale=0.2, dtype=dtype))
            else:
                p.copy_(_randn(g, *p.shape, scale=1.0 / math.sqrt(p.shape[-1]), dtype=dtype))
    return layer


def _torch_param_grads(layer: nn.TransformerEncoderLayer, prefix: str = "") -> dict:
    """The gradients of PyTorch's layer under the course's parameter names."""
    attn = layer.self_attn
    out = {}
    for part, block in zip(("q_proj", "k_proj", "v_proj"), attn.in_proj_weight.grad.chunk(3)):
        out[f"{prefix}self_attn.{part}.weight"] = block
    if attn.in_proj_bias is not None:
        for part, block in zip(("q_proj", "k_proj", "v_proj"), attn.in_proj_bias.grad.chunk(3)):
            out[f"{prefix}self_attn.{part}.bias"] = block
    for ours, theirs in [("self_attn.out_proj", attn.out_proj), ("ff.linear1", layer.linear1),
                         ("ff.linear2", layer.linear2), ("norm1", layer.norm1), ("norm2", layer.norm2)]:
        out[f"{prefix}{ours}.weight"] = theirs.weight.grad
        if theirs.bias is not None:
            out[f"{prefix}{ours}.bias"] = theirs.bias.grad
    return out


def _layer_case(impl, *, norm_first: bool, d_model: int, n_heads: int, d_ff: int, lengths: list[int] | None,
                seq: int, activation: str, seed: int, bias: bool = True, dtype=torch.float32,
                atol: float = 2e-5) -> None:
    """Compare the learner's EncoderLayer (with PyTorch's norms and feed-forward inside) with
    nn.TransformerEncoderLayer: outputs at the real tokens, gradients of x and of every weight."""
    torch_layer = _pytorch_encoder_layer(d_model, n_heads, d_ff, norm_first=norm_first, activation=activation,
                                         seed=seed, bias=bias, dtype=dtype)
    layer = impl.EncoderLayer(d_model, n_heads, d_ff, norm_first=norm_first, activation=activation, bias=bias)
    if dtype != torch.float32:
        layer = layer.to(dtype)
    impl.load_from_torch(layer, dict(torch_layer.state_dict()))
    g = torch.Generator().manual_seed(seed + 1)
    batch = len(lengths) if lengths else 2
    x = _randn(g, batch, seq, d_model, dtype=dtype)
    pad = None
    if lengths:
        pad = torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]            # True at real tokens
    grad_out = _randn(g, batch, seq, d_model, dtype=dtype)
    if pad is not None:
        grad_out = grad_out * pad[..., None]                                           # padded outputs unused
    x_ref = x.clone().requires_grad_(True)
    out_ref = torch_layer(x_ref, src_key_padding_mask=None if pad is None else ~pad)
    out_ref.backward(grad_out)

    report = layer_with_pytorch_parts(layer, x, pad, grad_out, activation)
    kind = "pre-norm" if norm_first else "post-norm"
    mask_text = f", padding_mask for lengths {lengths}" if lengths else ", no padding mask"
    what = (f"EncoderLayer({d_model}, {n_heads}, {d_ff}, norm_first={norm_first}, activation={activation!r}) "
            f"loaded with the weights of nn.TransformerEncoderLayer, on x of shape {tuple(x.shape)}{mask_text}")
    _expect_report(report, tuple(x.shape), what)
    real = pad if pad is not None else torch.ones(batch, seq, dtype=torch.bool)
    got = report["out"][real]
    expected = out_ref.detach()[real]
    if norm_first:
        wiring = ("x = x + attention_block(norm1(x), padding_mask); then x = x + feed_forward_block(norm2(x)): "
                  "each sub-layer reads a normalised copy, its output is added to the un-normalised x")
    else:
        wiring = ("x = norm1(x + attention_block(x, padding_mask)); then x = norm2(x + feed_forward_block(x)): "
                  "add the sub-layer's output to its input, then normalise the sum")
    if not _matches(got, expected, atol=atol * 10):
        other = _pytorch_encoder_layer(d_model, n_heads, d_ff, norm_first=not norm_first, activation=activation,
                                       seed=seed, bias=bias, dtype=dtype)
        with torch.no_grad():
            other_out = other(x, src_key_padding_mask=None if pad is None else ~pad)[real]
        if _matches(got, other_out, atol=atol * 10):
            raise CheckFailed(f"{what}: the output is what the {'post' if norm_first else 'pre'}-norm wiring gives; "
                              f"this is the {kind} layer: {wiring}")
    _close(got, expected, f"{what}: the output at the real tokens",
           f"Expected the {kind} wiring: {wiring}. (Your LayerNorm and FeedForward were replaced by PyTorch's for "
           "this check, so the difference comes from the wiring.)", atol=atol, rtol=1e-4)
    expect(report.get("x_grad") is not None, f"{what}: no gradient reached x")
    _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x",
           "The outputs are right, so look for a .detach() or a value computed outside the graph.", atol=atol, rtol=1e-4)
    expected_grads = _torch_param_grads(torch_layer)
    for name, value in expected_grads.items():
        got_grad = report["param_grads"].get(name)
        expect(got_grad is not None, f"{what}: {name}.grad is None after backward: every weight must take part")
        _close(got_grad, value, f"{what}: the gradient of {name}", "", atol=atol, rtol=1e-4)


@public_check("encoder.post_norm_layer")
def check_post_norm_layer(impl) -> None:
    """The post-norm EncoderLayer equals nn.TransformerEncoderLayer(norm_first=False) with the same weights: outputs and gradients, with and without padding."""
    _layer_case(impl, norm_first=False, d_model=8, n_heads=2, d_ff=16, lengths=[5, 3, 1], seq=5,
                activation="relu", seed=10)
    _layer_case(impl, norm_first=False, d_model=6, n_heads=3, d_ff=10, lengths=None, seq=4,
                activation="gelu", seed=11)


@public_check("encoder.pre_norm_layer")
def check_pre_norm_layer(impl) -> None:
    """The pre-norm EncoderLayer equals nn.TransformerEncoderLayer(norm_first=True) with the same weights: outputs and gradients, with and without padding."""
    _layer_case(impl, norm_first=True, d_model=8, n_heads=2, d_ff=16, lengths=[5, 2, 4], seq=5,
                activation="relu", seed=20)
    _layer_case(impl, norm_first=True, d_model=6, n_heads=3, d_ff=10, lengths=None, seq=4,
                activation="gelu", seed=21)


# ---------------------------------------------------------------------------------------------
# §5 Encoder (the stack)
# ---------------------------------------------------------------------------------------------

def _pytorch_encoder(n_layers: int, d_model: int, n_heads: int, d_ff: int, *, norm_first: bool, activation: str,
                     seed: int, dtype=torch.float32) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=norm_first)
    encoder = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                    enable_nested_tensor=False).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + _randn(g, *p.shape, scale=0.3, dtype=dtype))
            elif name.endswith("bias"):
                p.copy_(_randn(g, *p.shape, scale=0.2, dtype=dtype))
            else:
                p.copy_(_randn(g, *p.shape, scale=1.0 / math.sqrt(p.shape[-1]), dtype=dtype))
    return encoder


def _expect_stack_structure(impl, n_layers: int, d_model: int, n_heads: int, d_ff: int, norm_first: bool) -> Handle:
    encoder = impl.Encoder(n_layers, d_model, n_heads, d_ff, norm_first=norm_first)
    what = f"Encoder({n_layers}, {d_model}, {n_heads}, {d_ff}, norm_first={norm_first})"
    facts = stack_facts(encoder)
    expect(facts["has_layers"], f"{what} has no attribute `layers`: keep the layers in self.layers")
    expect(facts["is_module_list"], f"{what}.layers is a {facts['layers_type']}, not an nn.ModuleList: PyTorch "
           "registers the layers (so .parameters(), .to(device) and state_dict() see them) only in an nn.ModuleList")
    expect_equal(facts["n_layers"], n_layers, f"len({what}.layers)")
    expect(facts["n_distinct"] == n_layers, f"{what}.layers holds {facts['n_distinct']} distinct layer object(s) "
           f"for {n_layers} slots: [layer] * n repeats ONE layer (one set of weights); create a new EncoderLayer "
           "for each slot")
    expect(all(name == "EncoderLayer" for name in facts["layer_types"]),
           f"{what}.layers holds {facts['layer_types']}, expected EncoderLayer objects")
    if norm_first:
        expect(facts["norm_type"] == "LayerNorm", f"{what}.norm is {facts['norm_type']}, expected a LayerNorm: a "
               "pre-norm stack ends with one more LayerNorm, since its residual stream is never normalised inside")
    else:
        expect(facts["norm_type"] == "NoneType", f"{what}.norm is a {facts['norm_type']}, expected None: a post-norm "
               "stack already ends with a LayerNorm (each layer's norm2), so it has no final norm")
    return encoder


def _stack_case(impl, *, norm_first: bool, n_layers: int, d_model: int, n_heads: int, d_ff: int,
                lengths: list[int] | None, seq: int, seed: int, activation: str = "relu",
                device: torch.device | None = None, atol: float = 3e-5) -> None:
    encoder = _expect_stack_structure(impl, n_layers, d_model, n_heads, d_ff, norm_first)
    torch_encoder = _pytorch_encoder(n_layers, d_model, n_heads, d_ff, norm_first=norm_first, activation=activation,
                                     seed=seed)
    impl.load_from_torch(encoder, dict(torch_encoder.state_dict()))
    g = torch.Generator().manual_seed(seed + 1)
    batch = len(lengths) if lengths else 2
    x = _randn(g, batch, seq, d_model)
    pad = None if not lengths else torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]
    grad_out = _randn(g, batch, seq, d_model)
    if pad is not None:
        grad_out = grad_out * pad[..., None]
    x_ref = x.clone().requires_grad_(True)
    out_ref = torch_encoder(x_ref, src_key_padding_mask=None if pad is None else ~pad)
    out_ref.backward(grad_out)
    device = device or torch.device("cpu")
    report = stack_with_pytorch_layers(encoder, x, pad, grad_out, n_heads, activation, str(device))
    mask_text = f", padding_mask for lengths {lengths}" if lengths else ", no padding mask"
    what = (f"Encoder({n_layers}, {d_model}, {n_heads}, {d_ff}, norm_first={norm_first}) loaded with the weights "
            f"of nn.TransformerEncoder, on x of shape {tuple(x.shape)}{mask_text}"
            + ("" if device.type == "cpu" else f" on {device}"))
    _expect_report(report, tuple(x.shape), what)
    real = pad if pad is not None else torch.ones(batch, seq, dtype=torch.bool)
    got, expected = report["out"][real], out_ref.detach()[real]
    if pad is not None and not _matches(got, expected, atol=atol * 10):
        with torch.no_grad():
            unmasked = torch_encoder(x)[real]
        if _matches(got, unmasked, atol=atol * 10):
            raise CheckFailed(f"{what}: the output is what the stack gives WITHOUT the padding mask: pass "
                              "padding_mask on to every layer, layer(x, padding_mask)")
    _close(got, expected, f"{what}: the output at the real tokens",
           "Expected each layer applied in order (x = layer(x, padding_mask)), then the final norm if there is one. "
           "(Your layers were replaced by PyTorch's for this check, so the difference comes from the stack.)",
           atol=atol, rtol=1e-4)
    expect(report.get("x_grad") is not None, f"{what}: no gradient reached x")
    _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x", "", atol=atol, rtol=1e-4)


@public_check("encoder.encoder_stack")
def check_encoder_stack(impl) -> None:
    """Encoder holds n distinct registered layers (and a final norm when pre-norm) and equals nn.TransformerEncoder with the same weights, padding mask included."""
    _stack_case(impl, norm_first=False, n_layers=3, d_model=8, n_heads=2, d_ff=16, lengths=[6, 2, 4], seq=6, seed=30)
    _stack_case(impl, norm_first=True, n_layers=2, d_model=8, n_heads=4, d_ff=12, lengths=[3, 5], seq=5, seed=31,
                device=get_device())
    facts = stack_facts(impl.Encoder(6, 512, 8, 2048))
    expect_equal(facts["n_parameters"], 18_914_304, "the number of parameters of Encoder(6, 512, 8, 2048), the "
                 "paper's encoder (6 layers of 3,152,384)")
    expect_equal(facts["n_distinct_parameters"], facts["n_parameter_tensors"],
                 "the number of distinct parameter tensors of Encoder(6, 512, 8, 2048)")


# ---------------------------------------------------------------------------------------------
# §6 mlm_corrupt
# ---------------------------------------------------------------------------------------------

PAD_ID, MASK_ID, CLS_ID, VOCAB = 0, 3, 2, 1000


def _corruption_batch(seed: int, batch: int = 64, seq: int = 512) -> torch.Tensor:
    """Token ids in [4, VOCAB), [CLS] at position 0, padding at the end of each row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (batch, seq), generator=g)
    ids[:, 0] = CLS_ID
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=g)
    ids[torch.arange(seq)[None, :] >= lengths[:, None]] = PAD_ID
    return ids


def _proportion(count: int, total: int, p: float, what: str, advice: str) -> None:
    """Fail unless count/total is within 5 standard deviations of p (false alarm ~ 1 in 3 million)."""
    sd = math.sqrt(p * (1 - p) / total)
    frac = count / total
    expect(abs(frac - p) <= 5 * sd + 1e-12,
           f"{what}: {count} of {total} = {frac:.2%}, expected {p:.0%} (give or take {5 * sd:.1%}). {advice}")


def _expect_pair(report: dict, ids: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    expect(report["is_pair"], f"{what} returned a {report.get('type')}, expected a pair (corrupted, labels)")
    corrupted, labels = report["corrupted"], report["labels"]
    for name, value in (("corrupted", corrupted), ("labels", labels)):
        expect(isinstance(value, torch.Tensor), f"{what}: `{name}` is a {type(value).__name__}, expected a tensor")
        expect_equal(tuple(value.shape), tuple(ids.shape), f"{what}: the shape of `{name}`")
        expect(value.dtype == torch.int64, f"{what}: `{name}` has dtype {value.dtype}, expected torch.int64 "
               "(token ids and labels are integers; F.cross_entropy wants int64 labels)")
    expect(report["ids_unchanged"], f"{what} modified `ids` in place: build new tensors (torch.where, or "
           "ids.clone() first), the caller still needs the original ids")
    return corrupted, labels


@public_check("encoder.mlm_corrupt")
def check_mlm_corrupt(impl) -> None:
    """mlm_corrupt chooses ~15% of the non-special positions, then ~80% [MASK] / 10% random / 10% kept, labels -100 elsewhere, reproducibly from its generator."""
    ids = _corruption_batch(40)
    kwargs = {"mask_id": MASK_ID, "vocab_size": VOCAB, "special_ids": [PAD_ID, CLS_ID]}
    call = "mlm_corrupt(ids, mask_id=3, vocab_size=1000, special_ids=[0, 2], generator=torch.Generator().manual_seed(0))"
    what = f"{call} for ids of shape {tuple(ids.shape)} (ids 0 = padding, 2 = [CLS])"
    report = corrupt_with_seed(impl, ids, 0, **kwargs)
    corrupted, labels = _expect_pair(report, ids, what)

    chosen = labels != IGNORE
    expect(bool((labels[chosen] == ids[chosen]).all()),
           f"{what}: at the chosen positions the labels must hold the ORIGINAL ids (the answers), not the corrupted ones")
    bad_labels = labels[~chosen].unique()
    expect(bool((labels[~chosen] == IGNORE).all()), f"{what}: labels outside the chosen positions must all be -100 "
           f"(so the loss skips them), found {bad_labels[:5].tolist()}")
    expect(bool((corrupted[~chosen] == ids[~chosen]).all()),
           f"{what}: {int((corrupted[~chosen] != ids[~chosen]).sum())} positions that are not chosen (label -100) were "
           "changed: only the chosen positions may be corrupted")
    expect(chosen.float().mean() < 0.5, f"{what}: {chosen.float().mean():.0%} of the positions have a label other "
           "than -100: only the chosen positions (about 15%) get their original id as label, all the others -100")
    special = (ids == PAD_ID) | (ids == CLS_ID)
    expect(not bool(chosen[special].any()), f"{what}: {int(chosen[special].sum())} positions holding a special id "
           "(0 or 2) were chosen: skip the ids listed in special_ids (torch.isin helps)")
    expect(report["generator_used"], f"{what} never drew from the generator it was given: pass generator=... to "
           "every random call (uniform_like(ids, generator) and random_tokens_like(...) do)")
    expect(report["global_rng_unchanged"], f"{what} changed PyTorch's global random state: draw every random "
           "number from `generator` (uniform_like and random_tokens_like take it), so that a seed reproduces "
           "the corruption and nothing else is disturbed")

    eligible = int((~special).sum())
    n_chosen = int(chosen.sum())
    _proportion(n_chosen, eligible, 0.15, f"{what}: the fraction of non-special positions chosen",
                "Choose each non-special position independently with probability mask_prob.")
    n_mask = int((corrupted[chosen] == MASK_ID).sum())
    kept = corrupted[chosen] == ids[chosen]
    n_random = int(((corrupted[chosen] != MASK_ID) & ~kept).sum())
    # A random replacement equals the original with probability 1/1000: a few "kept" are random.
    split_advice = ("Split the CHOSEN positions with one more uniform draw u: u < 0.8 -> mask_id, 0.8 <= u < 0.9 -> "
                    "a random id, u >= 0.9 -> unchanged.")
    _proportion(n_mask, n_chosen, 0.8, f"{what}: the fraction of chosen positions replaced by mask_id (3)", split_advice)
    _proportion(n_random, n_chosen, 0.1 * (1 - 1 / VOCAB), f"{what}: the fraction of chosen positions replaced by "
                "another id", split_advice)
    _proportion(int(kept.sum()), n_chosen, 0.1 + 0.1 / VOCAB, f"{what}: the fraction of chosen positions left "
                "unchanged", split_advice)
    replaced = corrupted[chosen & (corrupted != MASK_ID) & (corrupted != ids)]
    expect(replaced.unique().numel() > 200, f"{what}: the random replacements take only "
           f"{replaced.unique().numel()} different values: draw each one uniformly from [0, vocab_size)")

    # Reproducible: the same seed gives the same corruption; another seed another one.
    again = corrupt_with_seed(impl, ids, 0, **kwargs)
    expect(torch.equal(again["corrupted"], corrupted) and torch.equal(again["labels"], labels),
           f"{call} called twice gave different results: use only the generator for randomness")
    other = corrupt_with_seed(impl, ids, 1, **kwargs)
    expect(not torch.equal(other["labels"], labels), f"mlm_corrupt with seeds 0 and 1 chose the same positions: "
           "the choice must come from the generator")

    # mask_prob is honoured; no special_ids means every position may be chosen.
    small = ids[:8, :64].clamp(min=4)
    none = corrupt_with_seed(impl, small, 0, mask_id=MASK_ID, vocab_size=VOCAB, mask_prob=0.0)
    _, none_labels = _expect_pair(none, small, "mlm_corrupt(..., mask_prob=0.0)")
    expect(bool((none_labels == IGNORE).all()), "mlm_corrupt(..., mask_prob=0.0) chose some positions: use mask_prob, "
           "not a hard-coded 0.15")
    everything = corrupt_with_seed(impl, small, 0, mask_id=MASK_ID, vocab_size=VOCAB, mask_prob=1.0)
    _, all_labels = _expect_pair(everything, small, "mlm_corrupt(..., mask_prob=1.0)")
    expect(bool((all_labels == small).all()), "mlm_corrupt(..., mask_prob=1.0) (no special_ids) must choose every "
           "position: the labels should equal the ids everywhere")


# ---------------------------------------------------------------------------------------------
# §7 mlm_loss
# ---------------------------------------------------------------------------------------------

def _expected_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's cross-entropy on the labelled positions (value, gradient wrt the logits)."""
    logits = logits.detach().clone().requires_grad_(True)
    chosen = labels != IGNORE
    loss = F.cross_entropy(logits[chosen], labels[chosen]) if bool(chosen.any()) else logits.sum() * 0.0
    loss.backward()
    return loss.detach(), logits.grad


@public_check("encoder.mlm_loss")
def check_mlm_loss(impl) -> None:
    """mlm_loss is the mean cross-entropy over the labelled positions only (value and gradient), and 0 when nothing is labelled."""
    g = torch.Generator().manual_seed(50)
    logits = _randn(g, 2, 5, 7, scale=2.0)
    labels = torch.tensor([[3, IGNORE, IGNORE, 0, IGNORE], [IGNORE, 6, IGNORE, IGNORE, IGNORE]])
    what = "mlm_loss(logits of shape (2, 5, 7), labels [[3, -100, -100, 0, -100], [-100, 6, -100, -100, -100]])"
    report = loss_and_grad(impl, logits, labels)
    loss = report["loss"]
    expect(isinstance(loss, torch.Tensor), f"{what} returned a {type(loss).__name__}, expected a scalar tensor")
    expect(loss.dim() == 0, f"{what} has shape {tuple(loss.shape)}, expected a scalar (shape ())")
    expected, expected_grad = _expected_loss(logits, labels)
    flat = logits.reshape(-1, 7)
    everywhere = F.cross_entropy(flat, labels.reshape(-1).clamp(min=0))
    if _matches(loss, everywhere):
        raise CheckFailed(f"{what} returned {float(loss):.5f}, the loss over EVERY position (with -100 read as id 0); "
                          f"expected {float(expected):.5f}: score only the positions whose label is not -100")
    sum_over_all = F.cross_entropy(flat, labels.reshape(-1), ignore_index=IGNORE, reduction="sum") / labels.numel()
    if _matches(loss, sum_over_all):
        raise CheckFailed(f"{what} returned {float(loss):.5f}, the sum over the 3 labelled positions divided by all "
                          f"10 positions; expected {float(expected):.5f}: divide by the number of labelled positions")
    _close(loss, expected, what, "Expected the average of -log softmax(logits)[label] over the 3 labelled positions.",
           atol=1e-5)
    expect(report["requires_grad"], f"{what} does not carry a gradient: compute it from the logits with tensor "
           "operations")
    _close(report["grad"], expected_grad, f"{what}: the gradient with respect to the logits",
           "Positions labelled -100 must get a zero gradient.", atol=1e-6)

    # Other shapes: flat (n, vocab) logits.
    logits2 = _randn(g, 6, 4)
    labels2 = torch.tensor([1, 1, IGNORE, 3, 0, IGNORE])
    got2 = impl.mlm_loss(logits2, labels2)
    _close(got2, _expected_loss(logits2, labels2)[0], "mlm_loss(logits of shape (6, 4), labels [1, 1, -100, 3, 0, -100])",
           "Work for any leading shape: flatten logits to (-1, vocab_size) and labels to (-1,).", atol=1e-5)

    # Nothing labelled: 0, not NaN, and a zero gradient.
    empty = loss_and_grad(impl, logits, torch.full((2, 5), IGNORE))
    what = "mlm_loss(logits, labels all -100) (a batch where no position was chosen)"
    expect(isinstance(empty["loss"], torch.Tensor), f"{what} returned a {type(empty['loss']).__name__}")
    expect(not bool(torch.isnan(empty["loss"]).any()), f"{what} returned NaN (0 / 0): return 0 when nothing is "
           "labelled, e.g. divide by max(number of labelled positions, 1)")
    _close(empty["loss"], torch.tensor(0.0), what, "", atol=1e-7)
    if empty.get("grad") is not None:
        _close(empty["grad"], torch.zeros_like(logits), f"{what}: the gradient", "", atol=1e-7)

    expect_raises(lambda: impl.mlm_loss(logits, labels[:, :4]), ValueError,
                  "mlm_loss(logits of shape (2, 5, 7), labels of shape (2, 4)) (shapes that do not fit)",
                  "The shape check is given at the top of mlm_loss: keep it.")
