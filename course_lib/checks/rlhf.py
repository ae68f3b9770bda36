"""Public checks for notebook 09 (RLHF): ``check("rlhf.dpo_loss")``.

The checks hold no implementation of an exercise: the expected values are LITERAL numbers for
small fixed inputs (computed once with the course's reference solution and pasted here, with the
arithmetic spelled out where it is short), together with properties that any correct answer has
(the DPO loss is log 2 when the policy is the reference, the KL penalty vanishes when the policy
is the reference, a clipped token has no gradient, padding never counts). The instructor's hidden
checks compare with full formulas on random inputs.

What needs the real objects (a backward pass, building a reward model on a backbone) runs in
a `probe`, which reports what happened and judges nothing.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    expect,
    expect_close,
    expect_raises,
    hold_fixed,
    probe,
    public_check,
)

LOG2 = math.log(2.0)

# ---------------------------------------------------------------------------------------------
# Helpers (judge side)
# ---------------------------------------------------------------------------------------------


def _close(got, expected, what: str, hint: str = "", *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`expect_close`, with `hint` (what the right answer is made of) appended to a failure."""
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}".rstrip(". ") + ("." if hint else "")) from None


def _matches(got, candidate, atol: float = 1e-4) -> bool:
    """True if `got` has `candidate`'s shape and values (to recognise a known mistake)."""
    candidate = torch.as_tensor(candidate, dtype=torch.float64)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    return bool(((got.detach().to("cpu", torch.float64) - candidate).abs() <= atol).all())


def _scalar(got, what: str) -> torch.Tensor:
    """A 0-dim float tensor, or a message saying what came back instead."""
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a scalar torch.Tensor "
           "(a loss you can call .backward() on)")
    expect(got.dim() == 0, f"{what} returned a tensor of shape {tuple(got.shape)}, expected a scalar (shape ()): "
           "average over the batch with .mean()")
    expect(got.is_floating_point(), f"{what} returned a tensor of dtype {got.dtype}, expected floating point")
    return got


def _t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def _fmt(values) -> str:
    """A short rendering of a small tensor or list for messages: [1, 0.5, -2]."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in values) + "]"
    if isinstance(values, bool):
        return str(values)
    return f"{values:g}" if isinstance(values, float) else str(values)


# ---------------------------------------------------------------------------------------------
# Probes (worker side: they exercise the learner's code and report; they judge nothing)
# ---------------------------------------------------------------------------------------------


def _plain(value):
    """A detached, contiguous copy of a tensor (anything else as is), to report from a probe."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone(memory_format=torch.contiguous_format)
    return value


@probe
def loss_and_grads(function, *tensors, **kwargs):
    """Call `function(*tensors, **kwargs)` with its floating-point tensors requiring grad,
    backpropagate the (scalar) result, and report the value and each input's gradient (None
    where none arrived, or for a non-float input such as a mask)."""
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in tensors]
    out = function(*inputs, **kwargs)
    report = {"value": _plain(out),
              "requires_grad": bool(isinstance(out, torch.Tensor) and out.requires_grad), "grads": None}
    if isinstance(out, torch.Tensor) and out.requires_grad and out.dim() == 0:
        out.backward()
        report["grads"] = [_plain(x.grad) if x.is_floating_point() else None for x in inputs]
    return report


class ToyBackbone(nn.Module):
    """A stand-in for the GPT in the reward-model checks (a test fixture, not an exercise).

    Causal like a GPT: the features at position t are the running mean of the token embeddings
    0..t, so they depend on tokens 0..t only. The embedding table is `embedding` (vocab, d_model).
    """

    def __init__(self, embedding: torch.Tensor) -> None:
        super().__init__()
        self.config = SimpleNamespace(d_model=embedding.shape[1], vocab_size=embedding.shape[0])
        self.tok_emb = nn.Embedding(embedding.shape[0], embedding.shape[1])
        with torch.no_grad():
            self.tok_emb.weight.copy_(embedding)

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(idx)                                                  # (B, T, d)
        counts = torch.arange(1, idx.shape[1] + 1, device=idx.device, dtype=x.dtype)
        return x.cumsum(dim=1) / counts[None, :, None]                        # (B, T, d)


def toy_features(embedding: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The ToyBackbone's features, computed judge-side (the fixture's own formula)."""
    x = embedding[idx].double()
    return x.cumsum(dim=1) / torch.arange(1, idx.shape[1] + 1, dtype=torch.float64)[None, :, None]


@probe
def reward_model_probe(RewardModel, embedding, head_weight, head_bias, calls):
    """Build ``RewardModel(ToyBackbone(embedding))``, set its head, run `calls` (a list of
    (idx, attention_mask-or-None)), and backpropagate the first call's scores' sum."""
    backbone = ToyBackbone(embedding)
    model = RewardModel(backbone)
    report = {"is_module": isinstance(model, nn.Module), "has_head": isinstance(getattr(model, "head", None), nn.Linear),
              "backbone_kept": getattr(model, "backbone", None) is backbone, "scores": [], "grads": None}
    if not (report["is_module"] and report["has_head"]):
        return report
    with torch.no_grad():
        model.head.weight.copy_(head_weight)
        model.head.bias.copy_(head_bias)
    outputs = [model(idx) if mask is None else model(idx, mask) for idx, mask in calls]
    report["scores"] = [_plain(o) for o in outputs]
    first = outputs[0]
    report["requires_grad"] = bool(isinstance(first, torch.Tensor) and first.requires_grad)
    if report["requires_grad"]:
        first.sum().backward()
        report["grads"] = {"head.weight": _plain(model.head.weight.grad), "embedding": _plain(backbone.tok_emb.weight.grad)}
    return report


# ---------------------------------------------------------------------------------------------
# §1 RewardModel.forward
# ---------------------------------------------------------------------------------------------

# The fixture: 7 tokens, 3 features; token v has embedding [v, (v % 3) - 1, 1 - v / 4].
RM_EMBEDDING = torch.tensor([[float(v), float(v % 3) - 1.0, 1.0 - v / 4.0] for v in range(7)])
RM_HEAD_W = _t([[0.5, -1.0, 2.0]])
RM_HEAD_B = _t([0.25])
RM_IDX = torch.tensor([[1, 4, 2, 6, 0], [3, 3, 5, 0, 0], [2, 0, 0, 0, 0]])
RM_MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
RM_REPADDED = torch.tensor([[1, 4, 2, 6, 0], [3, 3, 5, 6, 1], [2, 5, 4, 3, 6]])  # other ids in the padding


def _rm_value(idx: torch.Tensor, position: int, row: int) -> float:
    """The head's output at one position of the fixture (judge-side)."""
    feats = toy_features(RM_EMBEDDING, idx)[row, position]
    return float(feats @ RM_HEAD_W[0].double() + RM_HEAD_B.double()[0])


@public_check("rlhf.reward_model")
def check_reward_model(impl) -> None:
    """RewardModel scores each sequence with the head's value at its last real token; padding changes nothing; gradients reach the backbone."""
    calls = [(RM_IDX, RM_MASK), (RM_REPADDED, RM_MASK), (RM_IDX[:1], None), (RM_IDX[1:2, :3], None)]
    r = reward_model_probe(impl.RewardModel, RM_EMBEDDING, RM_HEAD_W, RM_HEAD_B, calls)
    expect(r["is_module"] and r["has_head"], "RewardModel(backbone) must be an nn.Module with a `head` "
           "nn.Linear(d_model, 1) (created in __init__, which is provided: keep it)")
    lengths = RM_MASK.long().sum(dim=1).tolist()
    expected = _t([_rm_value(RM_IDX, n - 1, b) for b, n in enumerate(lengths)])
    what = (f"RewardModel(backbone)(idx, attention_mask) with rows of {lengths[0]}, {lengths[1]} and {lengths[2]} "
            "real tokens then padding")
    got = r["scores"][0]
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a tensor of shape (3,)")
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 5):
        raise CheckFailed(f"{what} returned shape (3, 5): a value per position. Keep one per sequence: the value "
                          "at its last real token")
    if _matches(got, [_rm_value(RM_IDX, 4, b) for b in range(3)]):
        raise CheckFailed(f"{what}: you read the value at the last position of the padded row, which is padding for "
                          "the shorter rows; read it at the last REAL token, position attention_mask.sum(1) - 1")
    if _matches(got, [_rm_value(RM_IDX, 0, b) for b in range(3)]):
        raise CheckFailed(f"{what}: you read the value at position 0, which has seen only the first token. The "
                          "model is causal: only the last real token has read the whole answer")
    _close(got, expected, what, "Expected, for each row, head(backbone.features(idx))[row, last real position], "
           "a tensor of shape (batch,)")
    _close(r["scores"][1], expected, "RewardModel(...)(idx, attention_mask) with other token ids in the padding",
           "The padding's content must not change the score (read the value before the padding)")
    _close(r["scores"][2], _t([_rm_value(RM_IDX, 4, 0)]), "RewardModel(...)(idx) with no attention_mask (1 row of 5 tokens)",
           "Without a mask every token is real: use the last position")
    _close(r["scores"][3], _t([_rm_value(RM_IDX[1:2, :3], 2, 0)]),
           "RewardModel(...)(idx) with no attention_mask (1 row of 3 tokens)", "Without a mask use the last position")
    expect(r.get("requires_grad"), "the scores do not require grad: compute them from the backbone and the head "
           "without torch.no_grad() or .detach(), or the reward model cannot learn")
    grads = r["grads"]
    expect(grads["head.weight"] is not None and float(grads["head.weight"].abs().sum()) > 0,
           "after scores.sum().backward(), head.weight has no gradient: the scores must come from self.head")
    expect(grads["embedding"] is not None and float(grads["embedding"].abs().sum()) > 0,
           "after scores.sum().backward(), the backbone has no gradient: the scores must come from "
           "self.backbone.features(idx)")


# ---------------------------------------------------------------------------------------------
# §2 bradley_terry_loss
# ---------------------------------------------------------------------------------------------

BT_CHOSEN = [1.0, 0.0, -2.0, 3.0]
BT_REJECTED = [0.0, 0.5, 1.0, -1.0]
BT_LOSS = 1.0885189771652222            # mean of -log sigmoid(chosen - rejected) (reference, float64 digits)
BT_LOSS_SWAPPED = 1.4635189771652222    # the same with chosen and rejected exchanged (a known mistake)
BT_GRAD_CHOSEN = [-0.0672353581, -0.1556148231, -0.2381435335, -0.0044965525]  # -sigmoid(r - c) / 4


@public_check("rlhf.bradley_terry")
def check_bradley_terry(impl) -> None:
    """bradley_terry_loss is the mean of -log sigmoid(chosen - rejected): log 2 for ties, stable for large margins, right gradients."""
    what = f"bradley_terry_loss(chosen={_fmt(BT_CHOSEN)}, rejected={_fmt(BT_REJECTED)})"
    r = loss_and_grads(impl.bradley_terry_loss, _t(BT_CHOSEN), _t(BT_REJECTED))
    got = _scalar(r["value"], what)
    if _matches(got, BT_LOSS_SWAPPED):
        raise CheckFailed(f"{what} returned {float(got):.6g}, expected {BT_LOSS:.6g}: you swapped chosen and "
                          "rejected. The loss is small when the CHOSEN answer scores higher: -log sigmoid(chosen - rejected)")
    if _matches(got, BT_LOSS * 4):
        raise CheckFailed(f"{what} returned {float(got):.6g}, expected {BT_LOSS:.6g}: average over the batch (.mean()), "
                          "do not sum, so the loss does not grow with the batch size")
    _close(got, BT_LOSS, what, "Expected the mean over the pairs of -log sigmoid(chosen - rejected)")
    equal = impl.bradley_terry_loss(_t([0.3, -2.0, 5.0]), _t([0.3, -2.0, 5.0]))
    _close(_scalar(equal, "bradley_terry_loss(r, r)"), LOG2, "bradley_terry_loss(r, r) (equal scores: a coin flip)",
           "With equal scores sigmoid(0) = 0.5, so the loss is -log 0.5 = log 2")
    big = impl.bradley_terry_loss(_t([-500.0, 40.0]), _t([500.0, -40.0]))
    _close(_scalar(big, "bradley_terry_loss([-500, 40], [500, -40])"), 500.0,
           "bradley_terry_loss([-500, 40], [500, -40]) (margins -1000 and 80: the mean of 1000 and ~0)",
           "Use torch.nn.functional.logsigmoid: log(sigmoid(x)) is log(0) = -inf once sigmoid(x) underflows",
           atol=1e-3)
    expect(r["requires_grad"] and r["grads"] is not None, f"{what} does not require grad: compute it from the "
           "inputs with torch operations (no .item(), no .detach(), no torch.no_grad())")
    _close(r["grads"][0], _t(BT_GRAD_CHOSEN), f"the gradient of {what} with respect to chosen",
           "d loss / d chosen_i = -sigmoid(rejected_i - chosen_i) / batch size")
    _close(r["grads"][1], -_t(BT_GRAD_CHOSEN), f"the gradient of {what} with respect to rejected",
           "d loss / d rejected_i = +sigmoid(rejected_i - chosen_i) / batch size")


# ---------------------------------------------------------------------------------------------
# §3 token_logprobs
# ---------------------------------------------------------------------------------------------

# Logits (2, 4, 5): ((7k mod 11) - 5) / 2 for k = 0 .. 39, read row by row; ids (2, 4).
LP_LOGITS = ((((torch.arange(40) * 7) % 11) - 5).float() / 2).reshape(2, 4, 5)
LP_IDS = torch.tensor([[1, 3, 0, 4], [2, 2, 4, 1]])
LP_EXPECTED = _t([[-0.3331817389, -4.0824275017, -0.2699145973],
                  [-4.6109967232, -3.1109967232, -0.5824273825]])
LP_NOT_SHIFTED = _t([[-1.8331817389, -4.5824275017, -3.2699146271],      # position t scored on token t
                     [-4.6109967232, -4.6109967232, -1.0824273825]])
LP_SHIFTED_WRONG_WAY = _t([[-4.5824275017, -3.2699146271, -4.3414444923],  # logits[:, 1:] scored on ids[:, 1:]
                           [-4.6109967232, -1.0824273825, -0.5824273825]])


@public_check("rlhf.token_logprobs")
def check_token_logprobs(impl) -> None:
    """token_logprobs gives log p(token t+1 | tokens 0..t): shape (B, T-1), the shift right, normalised over the vocabulary."""
    what = "token_logprobs(logits of shape (2, 4, 5), input_ids=[[1, 3, 0, 4], [2, 2, 4, 1]])"
    got = impl.token_logprobs(LP_LOGITS, LP_IDS)
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a tensor")
    if tuple(got.shape) == (2, 4):
        raise CheckFailed(f"{what} has shape (2, 4), expected (2, 3): position t predicts token t + 1, so the last "
                          "position predicts nothing and the first token is never predicted")
    if _matches(got, LP_NOT_SHIFTED):
        raise CheckFailed(f"{what}: you scored the logits at position t on token t itself; they predict the NEXT "
                          "token: use logits[:, :-1] with input_ids[:, 1:]")
    if _matches(got, LP_SHIFTED_WRONG_WAY):
        raise CheckFailed(f"{what}: you used logits[:, 1:]; the logits at position t predict token t + 1, so take "
                          "logits[:, :-1] (all positions but the last) with input_ids[:, 1:]")
    _close(got, LP_EXPECTED, what, "Expected log_softmax(logits[:, t])[input_ids[:, t + 1]] at column t, "
           "a tensor of shape (B, T - 1)")
    shifted = impl.token_logprobs(LP_LOGITS + torch.arange(4.0)[None, :, None] * 10, LP_IDS)
    _close(shifted, LP_EXPECTED, "token_logprobs(logits + a constant per position, input_ids)",
           "Adding the same number to all the logits of a position does not change its probabilities: take a "
           "log_softmax over the vocabulary (the last dimension), not the raw logits")
    half = impl.token_logprobs(LP_LOGITS.to(torch.bfloat16), LP_IDS)
    expect(isinstance(half, torch.Tensor) and half.dtype in (torch.float32, torch.float64),
           f"token_logprobs(bfloat16 logits, ...) returned dtype {getattr(half, 'dtype', None)}: compute in "
           "float32 (logits.float()) so small log-probabilities are not rounded away")


# ---------------------------------------------------------------------------------------------
# §4 sequence_logprob
# ---------------------------------------------------------------------------------------------

SLP_MASK = torch.tensor([[False, False, True, True], [False, True, True, False]])
SLP_EXPECTED = _t([-4.3523421288, -7.7219934464])   # row 0: LP[0,1] + LP[0,2]; row 1: LP[1,0] + LP[1,1]


@public_check("rlhf.sequence_logprob")
def check_sequence_logprob(impl) -> None:
    """sequence_logprob sums the log-probs of the response tokens only (not the prompt, not the padding)."""
    what = ("sequence_logprob(logits, input_ids=[[1, 3, 0, 4], [2, 2, 4, 1]], "
            "response_mask=[[F, F, T, T], [F, T, T, F]])")
    # token_logprobs is held fixed (graded by its own check): a bug there costs that exercise only.
    with hold_fixed("rlhf", impl, "token_logprobs"):
        got = impl.sequence_logprob(LP_LOGITS, LP_IDS, SLP_MASK)
        expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a tensor of shape (2,)")
        lp = LP_EXPECTED.double()
        if _matches(got, lp.sum(dim=1)):
            raise CheckFailed(f"{what} returned {_fmt(got)}: you summed the log-probs of every token, the prompt "
                              f"(and padding) included; expected {_fmt(SLP_EXPECTED)}. Only the response is the "
                              "policy's choice: multiply by the response mask before summing")
        if _matches(got, _t([float(lp[0, 2]), float(lp[1, 1] + lp[1, 2])])):
            raise CheckFailed(f"{what} returned {_fmt(got)}: the mask is not lined up with the log-probs. Column t of "
                              "token_logprobs is token t + 1, so use response_mask[:, 1:]")
        if _matches(got, _t([float(lp[0, 1] + lp[0, 2]) / 2, float(lp[1, 0] + lp[1, 1]) / 2])):
            raise CheckFailed(f"{what} returned {_fmt(got)}, the mean per token: return the SUM, the log-probability "
                              "of the whole response (log p(a, b) = log p(a) + log p(b | a))")
        _close(got, SLP_EXPECTED, what, "Expected, for each row, the sum of token_logprobs(logits, input_ids)[:, t] "
               "over the columns t where response_mask[:, t + 1] is True")
        one = impl.sequence_logprob(LP_LOGITS[:1], LP_IDS[:1], torch.tensor([[False, True, True, True]]))
        _close(one, _t([float(lp[0].sum())]), "sequence_logprob(...) of one row whose response is every token after the "
               "first", "Expected the sum of all T - 1 token log-probs")


# ---------------------------------------------------------------------------------------------
# §5 dpo_loss
# ---------------------------------------------------------------------------------------------

DPO_PC, DPO_PR = [-3.0, -5.0, -2.0], [-4.0, -4.0, -6.0]      # policy: chosen, rejected
DPO_RC, DPO_RR = [-3.5, -4.0, -3.0], [-3.5, -5.0, -5.0]      # reference: chosen, rejected
# (pc - rc) - (pr - rr) = [1, -2, 2]; the loss is the mean of -log sigmoid(beta * that).
DPO_B05 = 0.7002001404762268
DPO_B01 = 0.6802248358726501
DPO_B2 = 1.387742519378662
DPO_GRAD_PC_B05 = [-0.0629234463, -0.1218430996, -0.044823572]


def _dpo_reference_value(beta: float, margins) -> float:
    """The DPO loss from its margins: mean of -log sigmoid(beta * m) (used for messages only)."""
    return sum(math.log1p(math.exp(-beta * m)) for m in margins) / len(margins)


@public_check("rlhf.dpo_loss")
def check_dpo_loss(impl) -> None:
    """dpo_loss is log 2 when the policy is the reference, matches the formula for several betas, and its gradient favours the chosen answer."""
    same = impl.dpo_loss(_t(DPO_PC), _t(DPO_PR), _t(DPO_PC), _t(DPO_PR), beta=0.3)
    _close(_scalar(same, "dpo_loss(pc, pr, pc, pr)"), LOG2,
           "dpo_loss(pc, pr, ref_c=pc, ref_r=pr) (the policy IS the reference)",
           "Every implicit reward beta * (log pi - log pi_ref) is 0 at the start, so the loss is -log sigmoid(0) = log 2: "
           "subtract the reference's log-probs from the policy's")
    args = f"policy_chosen={_fmt(DPO_PC)}, policy_rejected={_fmt(DPO_PR)}, ref_chosen={_fmt(DPO_RC)}, ref_rejected={_fmt(DPO_RR)}"
    what = f"dpo_loss({args}, beta=0.5)"
    r = loss_and_grads(impl.dpo_loss, _t(DPO_PC), _t(DPO_PR), _t(DPO_RC), _t(DPO_RR), beta=0.5)
    got = _scalar(r["value"], what)
    margins = [1.0, -2.0, 2.0]
    if _matches(got, _dpo_reference_value(0.5, [-m for m in margins])):
        raise CheckFailed(f"{what} returned {float(got):.6g}, expected {DPO_B05:.6g}: chosen and rejected are swapped. "
                          "The loss must fall when the policy makes the CHOSEN answer more likely than the reference does")
    one_side = [0.5 * (pc - rc) - (pr - rr) for pc, pr, rc, rr in zip(DPO_PC, DPO_PR, DPO_RC, DPO_RR)]
    other_side = [(pc - rc) - 0.5 * (pr - rr) for pc, pr, rc, rr in zip(DPO_PC, DPO_PR, DPO_RC, DPO_RR)]
    if _matches(got, _dpo_reference_value(1.0, one_side)) or _matches(got, _dpo_reference_value(1.0, other_side)):
        raise CheckFailed(f"{what} returned {float(got):.6g}, expected {DPO_B05:.6g}: beta multiplies only one of the two "
                          "log-ratios. Both implicit rewards are beta * (log pi - log pi_ref)")
    no_ref = [pc - pr for pc, pr in zip(DPO_PC, DPO_PR)]
    if _matches(got, _dpo_reference_value(0.5, no_ref)):
        raise CheckFailed(f"{what} returned {float(got):.6g}, expected {DPO_B05:.6g}: the reference's log-probs are "
                          "missing. DPO compares how much MORE likely the policy makes each answer than the reference does")
    _close(got, DPO_B05, what, "Expected the mean of -log sigmoid(beta * ((pc - rc) - (pr - rr)))")
    _close(_scalar(impl.dpo_loss(_t(DPO_PC), _t(DPO_PR), _t(DPO_RC), _t(DPO_RR)), "dpo_loss(...)"), DPO_B01,
           f"dpo_loss({args}) (default beta=0.1)", "Use the beta argument (default 0.1)")
    _close(_scalar(impl.dpo_loss(_t(DPO_PC), _t(DPO_PR), _t(DPO_RC), _t(DPO_RR), beta=2.0), "dpo_loss(...)"), DPO_B2,
           f"dpo_loss({args}, beta=2.0)", "Use the beta argument")
    expect(r["requires_grad"] and r["grads"] is not None, f"{what} does not require grad: compute it from the "
           "policy's log-probs with torch operations")
    _close(r["grads"][0], _t(DPO_GRAD_PC_B05), f"the gradient of {what} with respect to policy_chosen",
           "Raising the chosen answer's log-prob must lower the loss")
    _close(r["grads"][1], -_t(DPO_GRAD_PC_B05), f"the gradient of {what} with respect to policy_rejected",
           "Raising the rejected answer's log-prob must raise the loss by as much")


# ---------------------------------------------------------------------------------------------
# §6 kl_penalized_rewards
# ---------------------------------------------------------------------------------------------

KL_SCORES = [1.5, -0.5]
KL_LOGPROBS = [[-1.0, -2.0, -0.5, -3.0], [-0.2, -1.5, -2.0, -2.0]]
KL_REF = [[-1.5, -1.0, -0.5, -1.0], [-0.7, -1.0, -1.0, -9.0]]
KL_MASK = [[True, True, True, False], [True, True, False, False]]
# -0.1 * (logprobs - ref) at real tokens, plus the score at each row's last real token (column 2, column 1).
KL_EXPECTED = [[-0.05, 0.1, 1.5, 0.0], [-0.05, -0.45, 0.0, 0.0]]


@public_check("rlhf.kl_rewards")
def check_kl_rewards(impl) -> None:
    """kl_penalized_rewards: -kl_coef * (logprobs - ref_logprobs) at each real token, the score added at the last one, 0 at padding."""
    lp, ref, mask = _t(KL_LOGPROBS), _t(KL_REF), torch.tensor(KL_MASK)
    same = impl.kl_penalized_rewards(_t(KL_SCORES), lp, lp.clone(), mask, 0.1)
    what_same = "kl_penalized_rewards(scores=[1.5, -0.5], logprobs, ref_logprobs=logprobs, mask, kl_coef=0.1)"
    expect(isinstance(same, torch.Tensor), f"{what_same} returned a {type(same).__name__}, expected a (2, 4) tensor")
    _close(same, _t([[0.0, 0.0, 1.5, 0.0], [0.0, -0.5, 0.0, 0.0]]), what_same + " (the policy IS the reference)",
           "With no KL to pay, the only reward is each row's score, at its LAST REAL token "
           "(mask.sum(1) - 1), and 0 everywhere else, padding included")
    what = f"kl_penalized_rewards(scores={_fmt(KL_SCORES)}, logprobs={_fmt(KL_LOGPROBS)}, ref_logprobs={_fmt(KL_REF)}, mask={_fmt(KL_MASK)}, kl_coef=0.1)"
    got = impl.kl_penalized_rewards(_t(KL_SCORES), lp, ref, mask, 0.1)
    expected = _t(KL_EXPECTED)
    flipped = _t([[0.05, -0.1, 1.5, 0.0], [0.05, 0.45, 0.0, 0.0]])
    if _matches(got, flipped):
        raise CheckFailed(f"{what} returned {_fmt(got)}: the KL penalty has the wrong sign. Tokens the policy made MORE "
                          "likely than the reference (logprobs > ref_logprobs) must cost reward: -kl_coef * (logprobs - ref_logprobs)")
    _close(got, expected, what, "Expected -kl_coef * (logprobs - ref_logprobs) at real tokens, plus scores[b] at row b's "
           "last real token, and 0 at padding")
    zero = impl.kl_penalized_rewards(_t(KL_SCORES), lp, ref, mask, 0.0)
    _close(zero, _t([[0.0, 0.0, 1.5, 0.0], [0.0, -0.5, 0.0, 0.0]]), "kl_penalized_rewards(..., kl_coef=0.0)",
           "With kl_coef = 0 only the scores remain")


# ---------------------------------------------------------------------------------------------
# §7 compute_gae
# ---------------------------------------------------------------------------------------------

GAE_REWARDS = [[0.5, -1.0, 2.0, 0.25, 1.0], [0.0, 0.0, 1.0, -0.5, 3.0]]
GAE_VALUES = [[0.1, 0.4, -0.2, 0.3, 0.6], [1.0, -1.0, 0.5, 0.0, 2.0]]
GAE_DONES = [[False, False, True, False, False], [False, False, False, False, True]]
GAE_LAST = [0.5, -1.0]
# gamma = 0.9, lam = 0.8 (reference, float32 digits)
GAE_ADV = [[0.7628801465, 0.0040001869, 2.2000000477, 1.1019999981, 0.8500000238],
           [0.1571611166, 2.8571681976, 1.9544000626, 2.0199999809, 1.0]]
GAE_ADV_NO_LAST = [[0.7628801465, 0.0040001869, 2.2000000477, 0.7779999971, 0.3999999762],
                   [0.1571611166, 2.8571681976, 1.9544000626, 2.0199999809, 1.0]]


def _expect_pair_of(result, shape, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    expect(isinstance(result, (tuple, list)) and len(result) == 2,
           f"{what} returned a {type(result).__name__}, expected a tuple (advantages, returns)")
    for name, t in zip(("advantages", "returns"), result):
        expect(isinstance(t, torch.Tensor) and tuple(t.shape) == tuple(shape),
               f"{what}: {name} should be a tensor of shape {tuple(shape)}, got "
               f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    return result[0], result[1]


@public_check("rlhf.gae")
def check_gae(impl) -> None:
    """compute_gae matches worked values with dones mid-row, bootstraps from last_values, and reduces to TD errors (lam=0) and Monte-Carlo returns (gamma=lam=1)."""
    rewards, values, dones = _t(GAE_REWARDS), _t(GAE_VALUES), torch.tensor(GAE_DONES)
    what = (f"compute_gae(rewards={_fmt(GAE_REWARDS)}, values={_fmt(GAE_VALUES)}, dones={_fmt(GAE_DONES)}, "
            f"gamma=0.9, lam=0.8, last_values={_fmt(GAE_LAST)})")
    adv, ret = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=0.9, lam=0.8,
                                                last_values=_t(GAE_LAST)), (2, 5), what)
    # Simple special cases first: their messages say more than a table of numbers.
    td_adv, _ = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=0.9, lam=0.0), (2, 5),
                                "compute_gae(..., gamma=0.9, lam=0.0)")
    nxt = torch.cat([values[:, 1:], torch.zeros(2, 1)], dim=1) * (~dones).float()
    _close(td_adv, rewards + 0.9 * nxt - values, "compute_gae(rewards, values, dones, gamma=0.9, lam=0.0) advantages",
           "With lam = 0 each advantage is the one-step TD error r[t] + gamma * V[t+1] * (1 - done[t]) - V[t], "
           "with V after the last step = 0 and nothing after a done")
    mc_adv, mc_ret = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=1.0, lam=1.0), (2, 5),
                                     "compute_gae(..., gamma=1.0, lam=1.0)")
    mc = _t([[1.5, 1.0, 2.0, 1.25, 1.0], [3.5, 3.5, 3.5, 2.5, 3.0]])  # sum of the rewards left in each episode
    _close(mc_ret, mc, "compute_gae(rewards, values, dones, gamma=1.0, lam=1.0) returns",
           "With gamma = lam = 1 the return is the sum of the rewards from step t to the end of ITS episode "
           "(a done at step t ends it: rewards after a done belong to the next episode)")
    _close(mc_adv, mc - values, "compute_gae(..., gamma=1.0, lam=1.0) advantages", "Advantages = returns - values")
    _close(adv, _t(GAE_ADV), what + " advantages", "Walk backwards: delta = r[t] + gamma * next_value * (1 - done[t]) - "
           "V[t], A[t] = delta + gamma * lam * (1 - done[t]) * A[t+1], next_value = last_values after the last step")
    _close(ret, _t(GAE_ADV) + values, what + " returns", "returns = advantages + values")
    adv0, _ = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=0.9, lam=0.8), (2, 5),
                              "compute_gae(..., gamma=0.9, lam=0.8) without last_values")
    _close(adv0, _t(GAE_ADV_NO_LAST), "compute_gae(..., gamma=0.9, lam=0.8) without last_values (so 0 after the last step)",
           "last_values=None means the value after the last step is 0")


# ---------------------------------------------------------------------------------------------
# §8 ppo_clip_loss, value_loss, group_relative_advantages
# ---------------------------------------------------------------------------------------------

# Ratios inside and outside [1 - 0.2, 1 + 0.2], for a positive and a negative advantage:
# the per-token objective is min(ratio * A, clip(ratio, 0.8, 1.2) * A), the loss its negative.
PPO_CASES = [  # (ratio, advantage, loss, d loss / d logprob, why)
    (1.0, 1.0, -1.0, -1.0, "ratio 1 (the policy has not moved yet): the loss is -A, the gradient -ratio * A"),
    (0.9, 1.0, -0.9, -0.9, "ratio 0.9 is inside [0.8, 1.2]: no clipping"),
    (1.5, 1.0, -1.2, 0.0, "ratio 1.5 > 1.2 with A > 0: the gain is capped at 1.2 * A and the gradient is 0"),
    (0.5, 1.0, -0.5, -0.5, "ratio 0.5 < 0.8 with A > 0: the unclipped term 0.5 * A is the smaller, so it counts "
                           "(PPO never caps a loss, only a gain)"),
    (0.5, -1.0, 0.8, 0.0, "ratio 0.5 < 0.8 with A < 0: the gain is capped at 0.8 * A and the gradient is 0"),
    (1.5, -1.0, 1.5, 1.5, "ratio 1.5 > 1.2 with A < 0: the unclipped term 1.5 * A is the smaller, so it counts"),
    (1.1, -2.0, 2.2, 2.2, "ratio 1.1 is inside [0.8, 1.2]: no clipping"),
]


@public_check("rlhf.ppo_clip_loss")
def check_ppo_clip_loss(impl) -> None:
    """ppo_clip_loss at ratios inside and outside 1 ± eps, for positive and negative advantages: values, zero gradients where clipped, masked mean."""
    for ratio, advantage, loss, grad, why in PPO_CASES:
        logprob = math.log(ratio)
        r = loss_and_grads(impl.ppo_clip_loss, _t([[logprob]]), _t([[0.0]]), _t([[advantage]]),
                           torch.tensor([[True]]), clip_eps=0.2)
        what = f"ppo_clip_loss at ratio {ratio:g} with advantage {advantage:+g} (clip_eps=0.2)"
        got = _scalar(r["value"], what)
        if ratio > 1.2 and advantage > 0 and _matches(got, -ratio * advantage):
            raise CheckFailed(f"{what} returned {float(got):.6g}, expected {loss:g}: the gain was not capped. {why}. "
                              "Clip the RATIO (torch.clamp(ratio, 1 - eps, 1 + eps)), multiply by the advantage, and "
                              "keep the MIN of that and the unclipped ratio * advantage")
        if ratio < 0.8 and advantage > 0 and _matches(got, -0.8 * advantage):
            raise CheckFailed(f"{what} returned {float(got):.6g}, expected {loss:g}: {why}. Take the min of the "
                              "unclipped and the clipped terms (not the clipped term alone, not the max)")
        _close(got, loss, what, why)
        expect(r["grads"] is not None, f"{what} does not require grad: compute it from logprobs with torch operations")
        _close(r["grads"][0], _t([[grad]]), f"d/d logprobs of {what}", why)
    # A batch with padding: the mean is over real tokens only.
    logprobs = _t([[math.log(1.1), math.log(1.5), 5.0], [math.log(0.5), 0.0, -5.0]])
    advantages = _t([[1.0, 1.0, 100.0], [1.0, -2.0, 100.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    got = impl.ppo_clip_loss(logprobs, torch.zeros(2, 3), advantages, mask, clip_eps=0.2)
    # per real token: min(1.1, 1.1) = 1.1, min(1.5, 1.2) = 1.2, min(0.5, 0.8) = 0.5, min(-2, -2) = -2 -> mean 0.2
    _close(_scalar(got, "ppo_clip_loss(...)"), -0.2,
           "ppo_clip_loss on a (2, 3) batch whose last column is padding (mask False, with huge values there)",
           "Average over the real tokens only: masked_mean(objective, mask) (provided), then negate")
    got = impl.ppo_clip_loss(_t([[math.log(1.5)]]), _t([[0.0]]), _t([[1.0]]), torch.tensor([[True]]), clip_eps=0.4)
    _close(_scalar(got, "ppo_clip_loss(...)"), -1.4, "ppo_clip_loss at ratio 1.5, advantage +1, clip_eps=0.4",
           "Use the clip_eps argument: the ratio is clipped to [1 - clip_eps, 1 + clip_eps] = [0.6, 1.4]")


VL_VALUES = [[1.0, 0.5, -1.0, 2.0]]
VL_OLD = [[0.5, 0.5, 0.0, 0.0]]
VL_RETURNS = [[2.0, 0.0, -0.5, 9.0]]
VL_MASK = [[True, True, True, False]]
# squared errors (1, 0.25, 0.25); clipped predictions (0.7, 0.5, -0.2) have errors (1.69, 0.25, 0.09);
# the larger of each pair: (1.69, 0.25, 0.25); half their mean:
VL_CLIPPED = 0.3649999797344208
VL_PLAIN = 0.25


@public_check("rlhf.value_loss")
def check_value_loss(impl) -> None:
    """value_loss is half the masked mean squared error, with PPO's value clipping keeping the larger error."""
    args = (_t(VL_VALUES), _t(VL_OLD), _t(VL_RETURNS), torch.tensor(VL_MASK))
    what = (f"value_loss(values={_fmt(VL_VALUES)}, old_values={_fmt(VL_OLD)}, returns={_fmt(VL_RETURNS)}, "
            f"mask={_fmt(VL_MASK)}")
    plain = _scalar(impl.value_loss(*args, clip_eps=None), what + ", clip_eps=None)")
    if _matches(plain, 2 * VL_PLAIN):
        raise CheckFailed(f"{what}, clip_eps=None) returned {float(plain):.6g}, expected {VL_PLAIN:g}: the loss is HALF "
                          "the mean squared error (0.5 * ...), by convention")
    if _matches(plain, 0.5 * (1 + 0.25 + 0.25 + 49) / 4):
        raise CheckFailed(f"{what}, clip_eps=None) returned {float(plain):.6g}, expected {VL_PLAIN:g}: the padding "
                          "(mask False) was counted; average over the real tokens only (masked_mean)")
    _close(plain, VL_PLAIN, what + ", clip_eps=None)", "Expected 0.5 * masked_mean((values - returns) ** 2, mask)")
    r = loss_and_grads(impl.value_loss, *args[:3], torch.tensor(VL_MASK), clip_eps=0.2)
    clipped = _scalar(r["value"], what + ", clip_eps=0.2)")
    if _matches(clipped, 0.5 * (1 + 0.25 + 0.09) / 3):
        raise CheckFailed(f"{what}, clip_eps=0.2) returned {float(clipped):.6g}, expected {VL_CLIPPED:.6g}: you kept the "
                          "SMALLER of the two errors; PPO keeps the larger one (torch.max), so that moving the value "
                          "more than clip_eps from old_values earns nothing")
    _close(clipped, VL_CLIPPED, what + ", clip_eps=0.2)", "clipped = old_values + clamp(values - old_values, -eps, eps); "
           "loss = 0.5 * masked_mean(max((values - returns) ** 2, (clipped - returns) ** 2))")
    expect(r["grads"] is not None, "value_loss does not require grad: compute it from values with torch operations")
    # token 0 is clipped and its clipped error is the larger: no gradient there; tokens 1, 2 move freely.
    _close(r["grads"][0], _t([[0.0, 0.5 / 3, -0.5 / 3, 0.0]]), f"d/d values of {what}, clip_eps=0.2)",
           "Token 0 moved 0.5 > 0.2 from its old value and its clipped error is the larger: its gradient is 0. Token 1 "
           "gets (0.5 - 0) / 3 and token 2 (-1 + 0.5) / 3 (half the mean of squares: (v - R) / n)")


GRPO_SCORES = [1.0, 2.0, 3.0, 6.0, 0.5, 0.5, 0.5, 0.5, -1.0, 4.0, 0.0, 1.0]
GRPO_EXPECTED = [-0.925819695, -0.4629098475, 0.0, 1.3887295723, 0.0, 0.0, 0.0, 0.0,
                 -0.925819695, 1.3887295723, -0.4629098475, 0.0]


@public_check("rlhf.grpo_advantages")
def check_grpo_advantages(impl) -> None:
    """group_relative_advantages standardises each consecutive group of scores by its own mean and std."""
    what = f"group_relative_advantages({_fmt(GRPO_SCORES)}, group_size=4)"
    got = impl.group_relative_advantages(_t(GRPO_SCORES), 4)
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a tensor of shape (12,)")
    scores = _t(GRPO_SCORES).double()
    if _matches(got, (scores - scores.mean()) / scores.std()):
        raise CheckFailed(f"{what}: you standardised over the whole batch; each group of 4 consecutive scores "
                          "(the answers to one prompt) must be compared with its own mean and std")
    _close(got, _t(GRPO_EXPECTED), what, "Expected (score - mean of its group) / (std of its group + eps), the groups "
           "being scores[0:4], scores[4:8], scores[8:12] and std PyTorch's default (Bessel's correction)")
    pairs = impl.group_relative_advantages(_t([3.0, 1.0, -2.0, -2.0]), 2)
    _close(pairs, _t([0.7071067, -0.7071067, 0.0, 0.0]), "group_relative_advantages([3, 1, -2, -2], group_size=2)",
           "Groups of two: [3, 1] has mean 2 and std sqrt(2); [-2, -2] all score the same, so both get 0 (not NaN)",
           atol=1e-4)
