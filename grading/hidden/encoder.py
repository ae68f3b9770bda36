"""Hidden checks for notebook 05 (the encoder): instructor side only.

Same names as the public checks, other cases: random sizes and seeds, odd head sizes, batch 1,
length 1, float64, no biases, another eps, GELU, deeper and shallower stacks, inputs far from 0
(a one-pass variance loses its digits there), huge logits (a hand-made log-softmax overflows),
other masking rates, shapes and integer dtypes. The comparisons are with PyTorch's own modules
(nn.LayerNorm, nn.TransformerEncoderLayer, nn.TransformerEncoder, F.cross_entropy), computed here
in the judge; the learner's code runs in the worker through the public probes, with the same
isolation as the public checks (the layer checks use PyTorch's norms and feed-forward, the stack
check PyTorch's layers), so one bug still costs one check.

`ORACLES` holds a correct `mlm_loss` (plain tensors in and out, so `hold_fixed` can use it).
`mlm_corrupt` has none: its generator cannot cross to the judge.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import CheckFailed, expect, hidden_check
from course_lib.checks.encoder import (
    IGNORE,
    _close,
    _expect_pair,
    _expect_report,
    _expected_loss,
    _layer_case,
    _proportion,
    _randn,
    _stack_case,
    corrupt_with_seed,
    forward_backward,
    loss_and_grad,
)


def _rng(name: str) -> random.Random:
    """A fresh, fixed random source per check (fresh cases, reproducible failures)."""
    return random.Random(f"encoder-hidden-{name}")


def _oracle_mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not fit")
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(),
                            ignore_index=IGNORE, reduction="sum")
    return total / (labels != IGNORE).sum().clamp(min=1)


ORACLES = {"mlm_loss": _oracle_mlm_loss}


# ---------------------------------------------------------------------------------------------
# §1 LayerNorm
# ---------------------------------------------------------------------------------------------

def _layer_norm_case(impl, d: int, shape: tuple, *, eps: float, dtype, seed: int, offset: float = 0.0,
                     scale: float = 1.0, atol: float, rtol: float = 1e-5) -> None:
    g = torch.Generator().manual_seed(seed)
    weight, bias = 1.0 + _randn(g, d, scale=0.5, dtype=dtype), _randn(g, d, scale=0.5, dtype=dtype)
    x = _randn(g, *shape, d, scale=scale, dtype=dtype) + offset
    grad_out = _randn(g, *shape, d, dtype=dtype)
    ln = impl.LayerNorm(d, eps=eps)
    if dtype != torch.float32:
        ln = ln.to(dtype)
    ln.load_state_dict({"weight": weight, "bias": bias})
    reference = nn.LayerNorm(d, eps=eps).to(dtype)
    with torch.no_grad():
        reference.weight.copy_(weight)
        reference.bias.copy_(bias)
    x_ref = x.clone().requires_grad_(True)
    out_ref = reference(x_ref)
    out_ref.backward(grad_out)
    what = (f"LayerNorm({d}, eps={eps}) in {str(dtype).replace('torch.', '')} on x of shape {tuple(x.shape)}"
            + (f" with values around {offset:g} (spread {scale:g})" if offset else ""))
    report = forward_backward(ln, x, grad_out)
    _expect_report(report, tuple(x.shape), what)
    _close(report["out"], out_ref.detach(), what,
           "Subtract the mean first, then average the squared deviations (a one-pass E[x^2] - E[x]^2 loses its "
           "digits when the values are far from 0).", atol=atol, rtol=rtol)
    _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x", "", atol=atol * 10, rtol=rtol)
    for name in ("weight", "bias"):
        _close(report["param_grads"][name], getattr(reference, name).grad, f"{what}: the gradient of {name}", "",
               atol=atol * 10, rtol=rtol)


@hidden_check("encoder.layer_norm")
def hidden_layer_norm(impl) -> None:
    """LayerNorm equals nn.LayerNorm on random sizes, float64, another eps, 4-D inputs, d = 1 and values far from 0."""
    rng = _rng("layer_norm")
    d = rng.choice([5, 17, 33])
    _layer_norm_case(impl, d, (2, 3, 4), eps=1e-5, dtype=torch.float32, seed=rng.randrange(10**6), atol=2e-5)
    _layer_norm_case(impl, rng.choice([7, 12]), (3,), eps=1e-3, dtype=torch.float64, seed=rng.randrange(10**6),
                     atol=1e-10)
    _layer_norm_case(impl, 1, (4,), eps=1e-5, dtype=torch.float64, seed=rng.randrange(10**6), atol=1e-10)
    _layer_norm_case(impl, 64, (2, 8), eps=1e-5, dtype=torch.float32, seed=rng.randrange(10**6), offset=100.0,
                     scale=0.1, atol=2e-3, rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# §2 FeedForward
# ---------------------------------------------------------------------------------------------

@hidden_check("encoder.feed_forward")
def hidden_feed_forward(impl) -> None:
    """FeedForward equals PyTorch's feed-forward block for random sizes, float64, no biases, 4-D inputs."""
    rng = _rng("feed_forward")
    for activation, bias, dtype, shape in (("relu", True, torch.float64, (2, 2, 3)),
                                          ("gelu", False, torch.float32, (1, 1)),
                                          ("relu", False, torch.float64, (7,))):
        d_model, d_ff = rng.randint(3, 12), rng.randint(5, 40)
        g = torch.Generator().manual_seed(rng.randrange(10**6))
        state = {"linear1.weight": _randn(g, d_ff, d_model, scale=0.5, dtype=dtype),
                 "linear2.weight": _randn(g, d_model, d_ff, scale=0.5, dtype=dtype)}
        if bias:
            state.update({"linear1.bias": _randn(g, d_ff, scale=0.5, dtype=dtype),
                          "linear2.bias": _randn(g, d_model, scale=0.5, dtype=dtype)})
        ff = impl.FeedForward(d_model, d_ff, activation=activation, bias=bias)
        if dtype != torch.float32:
            ff = ff.to(dtype)
        ff.load_state_dict(state)
        torch_layer = nn.TransformerEncoderLayer(d_model, 1, d_ff, dropout=0.0, activation=activation,
                                                 batch_first=True, bias=bias).to(dtype)
        with torch.no_grad():
            for name, value in state.items():
                torch_layer.get_parameter(name).copy_(value)
        x = _randn(g, *shape, d_model, dtype=dtype)
        grad_out = _randn(g, *shape, d_model, dtype=dtype)
        x_ref = x.clone().requires_grad_(True)
        out_ref = torch_layer._ff_block(x_ref)
        out_ref.backward(grad_out)
        what = (f"FeedForward({d_model}, {d_ff}, activation={activation!r}, bias={bias}) in "
                f"{str(dtype).replace('torch.', '')} on x of shape {tuple(x.shape)}")
        report = forward_backward(ff, x, grad_out)
        _expect_report(report, tuple(x.shape), what)
        atol = 1e-10 if dtype == torch.float64 else 1e-5
        _close(report["out"], out_ref.detach(), what, "Expected linear2(dropout(activation(linear1(x)))).", atol=atol)
        _close(report["x_grad"], x_ref.grad, f"{what}: the gradient with respect to x", "", atol=atol)
        for name in state:
            _close(report["param_grads"][name], torch_layer.get_parameter(name).grad,
                   f"{what}: the gradient of {name}", "", atol=atol)


# ---------------------------------------------------------------------------------------------
# §3-4 EncoderLayer
# ---------------------------------------------------------------------------------------------

def _layer_cases(impl, norm_first: bool, name: str) -> None:
    rng = _rng(name)
    # Odd head size (15 = 3 heads of 5), batch 1 with a padded tail.
    _layer_case(impl, norm_first=norm_first, d_model=15, n_heads=3, d_ff=rng.randint(20, 40), lengths=[4],
                seq=6, activation="gelu", seed=rng.randrange(10**6))
    # float64, no biases, random lengths.
    batch, seq = rng.randint(2, 4), rng.randint(3, 9)
    lengths = [rng.randint(1, seq) for _ in range(batch)]
    lengths[0] = seq
    _layer_case(impl, norm_first=norm_first, d_model=12, n_heads=4, d_ff=18, lengths=lengths, seq=seq,
                activation="relu", seed=rng.randrange(10**6), bias=False, dtype=torch.float64, atol=1e-9)
    # One token.
    _layer_case(impl, norm_first=norm_first, d_model=8, n_heads=1, d_ff=8, lengths=None, seq=1,
                activation="relu", seed=rng.randrange(10**6))


@hidden_check("encoder.post_norm_layer")
def hidden_post_norm_layer(impl) -> None:
    """Post-norm EncoderLayer equals PyTorch's for odd head sizes, batch 1, one token, float64 and no biases."""
    _layer_cases(impl, False, "post_norm")


@hidden_check("encoder.pre_norm_layer")
def hidden_pre_norm_layer(impl) -> None:
    """Pre-norm EncoderLayer equals PyTorch's for odd head sizes, batch 1, one token, float64 and no biases."""
    _layer_cases(impl, True, "pre_norm")


# ---------------------------------------------------------------------------------------------
# §5 Encoder
# ---------------------------------------------------------------------------------------------

@hidden_check("encoder.encoder_stack")
def hidden_encoder_stack(impl) -> None:
    """Encoder equals nn.TransformerEncoder for 1 and 4 layers, GELU, odd sizes and random padding."""
    rng = _rng("encoder_stack")
    _stack_case(impl, norm_first=True, n_layers=1, d_model=10, n_heads=2, d_ff=14, lengths=None, seq=3,
                seed=rng.randrange(10**6), activation="gelu")
    seq = rng.randint(4, 8)
    lengths = [seq] + [rng.randint(1, seq) for _ in range(2)]
    _stack_case(impl, norm_first=False, n_layers=4, d_model=9, n_heads=3, d_ff=11, lengths=lengths, seq=seq,
                seed=rng.randrange(10**6), activation="gelu", atol=5e-5)
    _stack_case(impl, norm_first=True, n_layers=3, d_model=6, n_heads=2, d_ff=6, lengths=[1, seq], seq=seq,
                seed=rng.randrange(10**6))


# ---------------------------------------------------------------------------------------------
# §6 mlm_corrupt
# ---------------------------------------------------------------------------------------------

@hidden_check("encoder.mlm_corrupt")
def hidden_mlm_corrupt(impl) -> None:
    """mlm_corrupt keeps its proportions at another rate, on 1-D and 3-D int32 ids, with specials as a tuple."""
    rng = _rng("mlm_corrupt")
    vocab = rng.randint(300, 600)
    mask_id = rng.randrange(vocab)
    g = torch.Generator().manual_seed(rng.randrange(10**6))

    # 1-D ids, rate 0.3, no specials.
    ids = torch.randint(0, vocab, (30_000,), generator=g)
    what = f"mlm_corrupt(ids of shape (30000,), mask_id={mask_id}, vocab_size={vocab}, mask_prob=0.3)"
    report = corrupt_with_seed(impl, ids, rng.randrange(10**6), mask_id=mask_id, vocab_size=vocab, mask_prob=0.3)
    corrupted, labels = _expect_pair(report, ids, what)
    chosen = labels != IGNORE
    expect(bool((labels[chosen] == ids[chosen]).all()) and bool((corrupted[~chosen] == ids[~chosen]).all()),
           f"{what}: labels must be the original ids where chosen, and nothing else may change")
    _proportion(int(chosen.sum()), ids.numel(), 0.3, f"{what}: the fraction chosen", "Use mask_prob.")
    original_is_mask = ids[chosen] == mask_id
    n_chosen = int(chosen.sum())
    masked = int(((corrupted[chosen] == mask_id) & ~original_is_mask).sum())
    # Among chosen tokens that were not already mask_id: 80% become mask_id, plus the random ones that hit it.
    eligible = int((~original_is_mask).sum())
    _proportion(masked, eligible, 0.8 + 0.1 / vocab, f"{what}: the fraction of chosen positions replaced by mask_id",
                "80% of the chosen positions become mask_id.")
    kept = int((corrupted[chosen] == ids[chosen]).sum())
    _proportion(kept, n_chosen, 0.1 + 0.1 / vocab + 0.8 * float(original_is_mask.float().mean()),
                f"{what}: the fraction of chosen positions left unchanged", "10% of the chosen positions stay as they are.")

    # 3-D int32 ids, specials given as a tuple.
    ids3 = torch.randint(5, vocab, (4, 16, 32), generator=g, dtype=torch.int32)
    ids3[:, :, -5:] = 1
    ids3[:, :, 0] = 4
    what = f"mlm_corrupt(int32 ids of shape (4, 16, 32), mask_id={mask_id}, vocab_size={vocab}, special_ids=(1, 4))"
    report = corrupt_with_seed(impl, ids3, rng.randrange(10**6), mask_id=mask_id, vocab_size=vocab, special_ids=(1, 4))
    corrupted3, labels3 = _expect_pair(report, ids3, what)
    chosen3 = labels3 != IGNORE
    special3 = (ids3 == 1) | (ids3 == 4)
    expect(not bool(chosen3[special3].any()), f"{what}: special positions were chosen")
    expect(bool((labels3[chosen3] == ids3.long()[chosen3]).all()), f"{what}: the labels must be the original ids")
    _proportion(int(chosen3.sum()), int((~special3).sum()), 0.15, f"{what}: the fraction of non-special positions "
                "chosen", "")
    expect(bool(((corrupted3 >= 0) & (corrupted3 < vocab)).all()),
           f"{what}: some corrupted ids fall outside [0, vocab_size)")


# ---------------------------------------------------------------------------------------------
# §7 mlm_loss
# ---------------------------------------------------------------------------------------------

@hidden_check("encoder.mlm_loss")
def hidden_mlm_loss(impl) -> None:
    """mlm_loss matches PyTorch on float64, int32 labels, all positions labelled, one labelled position and huge logits."""
    rng = _rng("mlm_loss")
    g = torch.Generator().manual_seed(rng.randrange(10**6))
    vocab = rng.randint(5, 30)
    cases = []
    logits = _randn(g, 3, 4, vocab, scale=3.0, dtype=torch.float64)
    labels = torch.randint(0, vocab, (3, 4), generator=g)
    labels[torch.rand(3, 4, generator=g) < 0.5] = IGNORE
    labels[0, 0] = 1
    cases.append(("float64 logits of shape (3, 4, V), about half the labels -100", logits, labels, 1e-10))
    cases.append(("every position labelled (int32 labels)", _randn(g, 5, vocab),
                  torch.randint(0, vocab, (5,), generator=g, dtype=torch.int32), 1e-5))
    one = torch.full((2, 6), IGNORE)
    one[1, 4] = 2
    cases.append(("one labelled position", _randn(g, 2, 6, vocab), one, 1e-5))
    huge = _randn(g, 4, vocab, scale=1e4)
    cases.append(("logits of size 1e4 (a softmax computed by hand overflows)", huge,
                  torch.tensor([0, IGNORE, 3, 1]), 1e-2))
    for text, logits, labels, atol in cases:
        what = f"mlm_loss with {text}"
        report = loss_and_grad(impl, logits, labels)
        expected, expected_grad = _expected_loss(logits, labels.long())
        loss = report["loss"]
        expect(isinstance(loss, torch.Tensor) and loss.dim() == 0, f"{what} did not return a scalar tensor")
        expect(bool(torch.isfinite(loss)), f"{what} returned {float(loss)}: use F.cross_entropy (or log_softmax), "
               "which subtract the largest logit first")
        _close(loss, expected.to(loss.dtype), what, "", atol=atol, rtol=1e-6)
        if report.get("grad") is not None:
            _close(report["grad"], expected_grad, f"{what}: the gradient", "", atol=atol, rtol=1e-6)
        else:
            raise CheckFailed(f"{what}: no gradient reached the logits")
