"""Hidden checks for notebook 09 (RLHF): instructor side only.

Same names as the public checks; fresh random sizes, seeds and lengths, and comparisons with the
full formulas (which the public checks, shipped to students, must not contain): Bradley-Terry and
DPO against their formulas, GAE against a plain backwards loop with dones, the clipped objective
and the value loss token by token, the KL-penalised rewards and GRPO's advantages.
Self-contained: nothing is imported from solutions/ (the grader's sandbox hides it).

`ORACLES` holds correct implementations, used by `hold_fixed` (the sequence_logprob checks hold
token_logprobs fixed), so a bug costs one exercise only.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, expect, hidden_check, hold_fixed
from course_lib.checks.rlhf import (
    LOG2,
    _close,
    _expect_pair_of,
    _fmt,
    _scalar,
    loss_and_grads,
    reward_model_probe,
    toy_features,
)

# ---------------------------------------------------------------------------------------------
# Oracles (same signatures as the exercises), written independently of the reference
# ---------------------------------------------------------------------------------------------


def _oracle_token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    if logits.dim() != 3 or input_ids.dim() != 2 or tuple(logits.shape[:2]) != tuple(input_ids.shape):
        raise ValueError(f"logits must be (B, T, V) and input_ids (B, T), got {tuple(logits.shape)} "
                         f"and {tuple(input_ids.shape)}")
    b, t, v = logits.shape
    nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, v), input_ids[:, 1:].reshape(-1), reduction="none")
    return -nll.reshape(b, t - 1)


def _oracle_sequence_logprob(logits, input_ids, response_mask):
    per_token = _oracle_token_logprobs(logits, input_ids)
    return torch.where(response_mask[:, 1:].bool(), per_token, torch.zeros_like(per_token)).sum(dim=1)


def _oracle_bradley_terry_loss(chosen_rewards, rejected_rewards):
    return F.softplus(rejected_rewards - chosen_rewards).mean()


def _oracle_dpo_loss(pc, pr, rc, rr, beta=0.1):
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return F.softplus(-beta * ((pc - pr) - (rc - rr))).mean()


def _oracle_kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    rewards = torch.zeros_like(logprobs)
    for b in range(logprobs.shape[0]):
        real = [t for t in range(logprobs.shape[1]) if bool(mask[b, t])]
        for t in real:
            rewards[b, t] = -kl_coef * (logprobs[b, t] - ref_logprobs[b, t])
        rewards[b, real[-1]] += scores[b]
    return rewards


def _plain_gae(rewards, values, dones, gamma, lam, last_values=None):
    """A plain loop over rows and steps, in float64."""
    rewards, values = rewards.double(), values.double()
    flat_r, flat_v = rewards.reshape(-1, rewards.shape[-1]), values.reshape(-1, values.shape[-1])
    flat_d = dones.reshape(-1, dones.shape[-1])
    flat_last = None if last_values is None else last_values.double().reshape(-1)
    adv = torch.zeros_like(flat_r)
    for row in range(flat_r.shape[0]):
        running = 0.0
        for t in reversed(range(flat_r.shape[1])):
            if t + 1 < flat_r.shape[1]:
                next_value = float(flat_v[row, t + 1])
            else:
                next_value = 0.0 if flat_last is None else float(flat_last[row])
            if bool(flat_d[row, t]):
                next_value, running = 0.0, 0.0
            delta = float(flat_r[row, t]) + gamma * next_value - float(flat_v[row, t])
            running = delta + gamma * lam * running
            adv[row, t] = running
    adv = adv.reshape(rewards.shape)
    return adv, adv + values


def _oracle_compute_gae(rewards, values, dones, gamma=1.0, lam=0.95, last_values=None):
    adv, ret = _plain_gae(rewards, values, dones, gamma, lam, last_values)
    return adv.to(rewards.dtype), ret.to(rewards.dtype)


def _masked_mean(x, mask):
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def _oracle_ppo_clip_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    ratio = (logprobs - old_logprobs).exp()
    objective = torch.minimum(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    return -_masked_mean(objective, mask)


def _oracle_value_loss(values, old_values, returns, mask, clip_eps=0.2):
    error = (values - returns) ** 2
    if clip_eps is not None:
        clipped = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
        error = torch.maximum(error, (clipped - returns) ** 2)
    return 0.5 * _masked_mean(error, mask)


def _oracle_group_relative_advantages(scores, group_size, eps=1e-6):
    out = torch.empty_like(scores)
    for start in range(0, scores.shape[0], group_size):
        group = scores[start:start + group_size]
        out[start:start + group_size] = (group - group.mean()) / (group.std() + eps)
    return out


ORACLES = {
    "token_logprobs": _oracle_token_logprobs,
    "sequence_logprob": _oracle_sequence_logprob,
    "bradley_terry_loss": _oracle_bradley_terry_loss,
    "dpo_loss": _oracle_dpo_loss,
    "kl_penalized_rewards": _oracle_kl_penalized_rewards,
    "compute_gae": _oracle_compute_gae,
    "ppo_clip_loss": _oracle_ppo_clip_loss,
    "value_loss": _oracle_value_loss,
    "group_relative_advantages": _oracle_group_relative_advantages,
}


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _right_padded_mask(lengths: list[int], width: int) -> torch.Tensor:
    return torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


@hidden_check("rlhf.reward_model")
def hidden_reward_model(impl) -> None:
    """RewardModel on random backbones, heads, lengths and paddings; masks given as 0/1 integers."""
    for seed in (11, 12):
        g = _rng(seed)
        vocab, d_model, batch, width = 9 + seed % 3, 4 + seed % 2, 5, 7
        embedding = torch.randn(vocab, d_model, generator=g)
        head_w, head_b = torch.randn(1, d_model, generator=g), torch.randn(1, generator=g)
        lengths = [width, 1] + [int(x) for x in torch.randint(1, width + 1, (batch - 2,), generator=g)]
        idx = torch.randint(0, vocab, (batch, width), generator=g)
        mask = _right_padded_mask(lengths, width)
        r = reward_model_probe(impl.RewardModel, embedding, head_w, head_b,
                               [(idx, mask), (idx, mask.long()), (idx[:, :3], None)])
        expect(r["is_module"] and r["has_head"], "RewardModel must be an nn.Module with a `head` nn.Linear(d_model, 1)")
        values = toy_features(embedding, idx) @ head_w[0].double() + head_b.double()   # (B, T)
        expected = torch.stack([values[b, n - 1] for b, n in enumerate(lengths)])
        what = f"RewardModel(...)(idx, attention_mask) on a batch with {lengths} real tokens per row (of {width})"
        _close(r["scores"][0], expected.float(), what, "Expected the head's value at each row's last real token",
               atol=1e-4)
        _close(r["scores"][1], expected.float(), what + " with the mask given as 0/1 integers",
               "Convert the mask (e.g. .long() or .bool()) rather than assuming its dtype", atol=1e-4)
        _close(r["scores"][2], values[:, 2].float(), "RewardModel(...)(idx of width 3) without a mask",
               "Without a mask use the last position", atol=1e-4)


@hidden_check("rlhf.bradley_terry")
def hidden_bradley_terry(impl) -> None:
    """bradley_terry_loss against its formula on random scores (small and huge), with gradients."""
    for seed, scale, n in ((1, 1.0, 17), (2, 300.0, 9), (3, 0.01, 1)):
        g = _rng(seed)
        c, r = torch.randn(n, generator=g) * scale, torch.randn(n, generator=g) * scale
        what = f"bradley_terry_loss on {n} random pairs (scores of scale {scale:g})"
        got = loss_and_grads(impl.bradley_terry_loss, c, r)
        c64, r64 = c.double().requires_grad_(), r.double().requires_grad_()
        expected = F.softplus(r64 - c64).mean()
        expected.backward()
        _close(_scalar(got["value"], what), expected.detach(), what, "Expected mean(-log sigmoid(chosen - rejected))",
               atol=1e-4, rtol=1e-5)
        expect(got["grads"] is not None, f"{what} does not require grad")
        _close(got["grads"][0], c64.grad, f"the gradient of {what} with respect to chosen", atol=1e-5)
        _close(got["grads"][1], r64.grad, f"the gradient of {what} with respect to rejected", atol=1e-5)


@hidden_check("rlhf.token_logprobs")
def hidden_token_logprobs(impl) -> None:
    """token_logprobs against cross-entropy on random logits of several sizes."""
    for seed, (b, t, v) in ((5, (3, 6, 11)), (6, (1, 2, 4)), (7, (4, 9, 50))):
        g = _rng(seed)
        logits = torch.randn(b, t, v, generator=g) * 3
        ids = torch.randint(0, v, (b, t), generator=g)
        _close(impl.token_logprobs(logits, ids), _oracle_token_logprobs(logits, ids),
               f"token_logprobs(random logits of shape {(b, t, v)}, ids)",
               "Expected log_softmax(logits[:, :-1])[..., input_ids[:, 1:]]", atol=1e-5)


@hidden_check("rlhf.sequence_logprob")
def hidden_sequence_logprob(impl) -> None:
    """sequence_logprob on random prompts, responses and padding (token_logprobs held fixed)."""
    with hold_fixed("rlhf", impl, "token_logprobs"):
        for seed in (21, 22):
            g = _rng(seed)
            b, width, v = 5, 10, 13
            logits = torch.randn(b, width, v, generator=g) * 2
            ids = torch.randint(0, v, (b, width), generator=g)
            prompt = [int(x) for x in torch.randint(1, 5, (b,), generator=g)]
            response = [int(x) for x in torch.randint(1, 6, (b,), generator=g)]
            pos = torch.arange(width)[None, :]
            mask = (pos >= torch.tensor(prompt)[:, None]) & (pos < torch.tensor(prompt)[:, None] + torch.tensor(response)[:, None])
            _close(impl.sequence_logprob(logits, ids, mask), _oracle_sequence_logprob(logits, ids, mask),
                   f"sequence_logprob(...) with prompts of {prompt} tokens and responses of {response} tokens, "
                   f"padded to {width}", "Sum the log-probs of the response tokens only", atol=1e-4)


@hidden_check("rlhf.dpo_loss")
def hidden_dpo_loss(impl) -> None:
    """dpo_loss against its formula on random log-probs and betas; log 2 whenever policy == reference."""
    for seed, beta in ((31, 0.1), (32, 0.7), (33, 3.0)):
        g = _rng(seed)
        n = 6 + seed % 5
        pc, pr, rc, rr = (-torch.rand(n, generator=g) * 20 for _ in range(4))
        what = f"dpo_loss on {n} random pairs, beta={beta:g}"
        got = loss_and_grads(impl.dpo_loss, pc, pr, rc, rr, beta=beta)
        a, b = pc.double().requires_grad_(), pr.double().requires_grad_()
        expected = F.softplus(-beta * ((a - rc.double()) - (b - rr.double()))).mean()
        expected.backward()
        _close(_scalar(got["value"], what), expected.detach(), what,
               "Expected mean(-log sigmoid(beta * ((pc - rc) - (pr - rr))))", atol=1e-4)
        expect(got["grads"] is not None, f"{what} does not require grad")
        _close(got["grads"][0], a.grad, f"the gradient of {what} with respect to policy_chosen", atol=1e-5)
        _close(got["grads"][1], b.grad, f"the gradient of {what} with respect to policy_rejected", atol=1e-5)
        same = impl.dpo_loss(pc, pr, pc.clone(), pr.clone(), beta=beta)
        _close(_scalar(same, "dpo_loss(...)"), LOG2, f"dpo_loss with policy == reference ({n} random pairs, beta={beta:g})",
               "All implicit rewards are 0, so the loss is log 2", atol=1e-5)


@hidden_check("rlhf.kl_rewards")
def hidden_kl_rewards(impl) -> None:
    """kl_penalized_rewards on random lengths and coefficients; KL term 0 when policy == reference."""
    for seed in (41, 42, 43):
        g = _rng(seed)
        b, width = 6, 8
        lengths = [width, 1] + [int(x) for x in torch.randint(1, width + 1, (b - 2,), generator=g)]
        mask = _right_padded_mask(lengths, width)
        scores = torch.randn(b, generator=g) * 2
        lp, ref = -torch.rand(b, width, generator=g) * 4, -torch.rand(b, width, generator=g) * 4
        coef = [0.01, 0.2, 1.0][seed % 3]
        what = f"kl_penalized_rewards on responses of {lengths} tokens (padded to {width}), kl_coef={coef:g}"
        _close(impl.kl_penalized_rewards(scores, lp, ref, mask, coef),
               _oracle_kl_penalized_rewards(scores, lp, ref, mask, coef), what,
               "Expected -kl_coef * (logprobs - ref_logprobs) at real tokens, the score added at the last one", atol=1e-5)
        same = impl.kl_penalized_rewards(scores, lp, lp.clone(), mask, coef)
        _close(same, _oracle_kl_penalized_rewards(scores, lp, lp, mask, coef), what + " with policy == reference",
               "The KL term must vanish when the policy is the reference", atol=1e-6)


@hidden_check("rlhf.gae")
def hidden_gae(impl) -> None:
    """compute_gae against a plain backwards loop on random rewards, values and dones (2-D and 1-D)."""
    for seed in (51, 52, 53):
        g = _rng(seed)
        b, t = 4, 9
        rewards, values = torch.randn(b, t, generator=g), torch.randn(b, t, generator=g)
        dones = torch.rand(b, t, generator=g) < 0.25
        gamma, lam = [(0.99, 0.95), (1.0, 0.9), (0.8, 0.5)][seed % 3]
        last = torch.randn(b, generator=g) if seed % 2 else None
        what = (f"compute_gae(random rewards and values of shape ({b}, {t}), dones={_fmt(dones.int())}, "
                f"gamma={gamma}, lam={lam}, last_values={'random' if last is not None else None})")
        adv, ret = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=gamma, lam=lam, last_values=last),
                                   (b, t), what)
        exp_adv, exp_ret = _plain_gae(rewards, values, dones, gamma, lam, last)
        _close(adv, exp_adv.float(), what + " advantages", "A done at step t cuts off everything after it", atol=1e-4)
        _close(ret, exp_ret.float(), what + " returns", "returns = advantages + values", atol=1e-4)
    g = _rng(54)
    rewards, values = torch.randn(7, generator=g), torch.randn(7, generator=g)
    dones = torch.tensor([0, 0, 1, 0, 0, 0, 1], dtype=torch.bool)
    adv, ret = _expect_pair_of(impl.compute_gae(rewards, values, dones, gamma=0.95, lam=0.9), (7,),
                               "compute_gae on one episode of shape (7,)")
    exp_adv, _ = _plain_gae(rewards, values, dones, 0.95, 0.9)
    _close(adv, exp_adv.float(), "compute_gae on 1-D tensors of shape (7,)",
           "The time axis is the last one; any leading dimensions are batch dimensions", atol=1e-4)


@hidden_check("rlhf.ppo_clip_loss")
def hidden_ppo_clip_loss(impl) -> None:
    """ppo_clip_loss against the formula on random ratios, advantages and masks, with gradients."""
    for seed, eps in ((61, 0.2), (62, 0.1), (63, 0.3)):
        g = _rng(seed)
        b, t = 5, 7
        old = -torch.rand(b, t, generator=g) * 3
        lp = old + torch.randn(b, t, generator=g) * 0.4
        adv = torch.randn(b, t, generator=g)
        mask = _right_padded_mask([int(x) for x in torch.randint(1, t + 1, (b,), generator=g)], t)
        what = f"ppo_clip_loss on a random ({b}, {t}) batch with padding, clip_eps={eps:g}"
        got = loss_and_grads(impl.ppo_clip_loss, lp, old, adv, mask, clip_eps=eps)
        x = lp.double().requires_grad_()
        expected = _oracle_ppo_clip_loss(x, old.double(), adv.double(), mask, eps)
        expected.backward()
        _close(_scalar(got["value"], what), expected.detach(), what,
               "Expected -masked_mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))", atol=1e-5)
        expect(got["grads"] is not None, f"{what} does not require grad")
        _close(got["grads"][0], x.grad, f"the gradient of {what}", "Clipped tokens get no gradient", atol=1e-5)


@hidden_check("rlhf.value_loss")
def hidden_value_loss(impl) -> None:
    """value_loss against the formula on random values, with and without clipping."""
    for seed, eps in ((71, 0.2), (72, None), (73, 0.5)):
        g = _rng(seed)
        b, t = 4, 6
        old, ret = torch.randn(b, t, generator=g), torch.randn(b, t, generator=g)
        values = old + torch.randn(b, t, generator=g) * 0.5
        mask = _right_padded_mask([int(x) for x in torch.randint(1, t + 1, (b,), generator=g)], t)
        what = f"value_loss on a random ({b}, {t}) batch with padding, clip_eps={eps}"
        got = loss_and_grads(impl.value_loss, values, old, ret, mask, clip_eps=eps)
        x = values.double().requires_grad_()
        expected = _oracle_value_loss(x, old.double(), ret.double(), mask, eps)
        expected.backward()
        _close(_scalar(got["value"], what), expected.detach(), what, "", atol=1e-5)
        expect(got["grads"] is not None, f"{what} does not require grad")
        _close(got["grads"][0], x.grad, f"the gradient of {what}", "", atol=1e-5)


@hidden_check("rlhf.grpo_advantages")
def hidden_grpo_advantages(impl) -> None:
    """group_relative_advantages on random scores and group sizes, including a group of equal scores."""
    for seed, group in ((81, 2), (82, 5), (83, 8)):
        g = _rng(seed)
        scores = torch.randn(group * 3, generator=g)
        scores[group:2 * group] = 0.25  # one group of equal scores
        _close(impl.group_relative_advantages(scores, group), _oracle_group_relative_advantages(scores, group),
               f"group_relative_advantages(random scores of 3 groups of {group}, group_size={group})",
               "Standardise each consecutive group by its own mean and std", atol=1e-4)
    try:
        impl.group_relative_advantages(torch.randn(7), 2)
    except Exception:  # noqa: BLE001 - any error is right for a length that is not a multiple of the group
        return
    raise CheckFailed("group_relative_advantages(7 scores, group_size=2) did not raise: 7 is not a multiple of 2")
