"""RLHF: a reward model learned from preferences, then PPO, DPO and GRPO.  Notebook 09.

The pipeline in one paragraph
-----------------------------
The SFT model of notebook 08 answers questions, but nothing told it *how* people like to be
answered. Raters compared pairs of answers (`course_lib.data.preference_pairs`: "this one is
better than that one"). From those comparisons we either

* learn a **reward model** (a GPT with a scalar head, trained with the Bradley-Terry loss), then
  let the policy generate answers and push it towards high reward with **PPO**, holding it close
  to the SFT model with a KL penalty (InstructGPT, 2022); or
* skip the reward model and the sampling and fit the policy to the comparisons directly with
  **DPO** (Rafailov et al., 2023), which optimises the same KL-regularised objective in closed
  form; or
* keep the reward model but drop PPO's value model: **GRPO** (DeepSeekMath, 2024) samples a group
  of answers per prompt and uses each answer's reward relative to its group as its advantage.

What learners implement (the marked regions; notebook 09, sections 1-8)
-----------------------------------------------------------------------
1. :meth:`RewardModel.forward`       the scalar score of each sequence, read at its last real token
2. :func:`bradley_terry_loss`        -log sigmoid(r_chosen - r_rejected)
3. :func:`token_logprobs`            log pi(token t | tokens < t) for every token of a batch
4. :func:`sequence_logprob`          log pi(response | prompt): the sum over the response tokens only
5. :func:`dpo_loss`                  the DPO loss from four sequence log-probabilities
6. :func:`kl_penalized_rewards`      PPO's per-token reward: -kl_coef * (log pi - log pi_ref), plus the score at the end
7. :func:`compute_gae`               generalized advantage estimation, episodes ending at `dones`
8. :func:`ppo_clip_loss`, :func:`value_loss`   PPO's clipped surrogate objective and its (clipped) value loss
   :func:`group_relative_advantages`            GRPO's advantages (section 8 too)

Everything else (padding, generation, the training loops) is provided below the exercises:
read it, it is where the pieces meet.

Conventions used throughout
---------------------------
* Sequences are **right-padded**: a row is prompt tokens, then response tokens, then padding.
  ``attention_mask`` (B, T) is True at real tokens (prompt and response).
* ``response_mask`` over a full sequence (B, T) is True at the response tokens themselves.
  Token t is predicted by the logits at position t - 1, so the first token of a sequence is
  never predicted (``response_mask[:, 0]`` must be False).
* PPO's per-token tensors (log-probs, values, rewards, advantages) are **response-aligned**:
  (B, L) with column t for the t-th response token, and a (B, L) ``mask`` True at real response
  tokens (responses have different lengths; L is the longest).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    # exercises
    "RewardModel", "bradley_terry_loss", "token_logprobs", "sequence_logprob", "dpo_loss",
    "kl_penalized_rewards", "compute_gae", "ppo_clip_loss", "value_loss", "group_relative_advantages",
    # provided
    "masked_mean", "masked_whiten", "preference_accuracy", "Prompt", "TokenizedPair", "pad_sequences",
    "pair_batch", "PolicyWithValue", "generate_responses", "Rollout", "rollout", "PPOConfig", "ppo_train",
    "DPOConfig", "dpo_train", "GRPOConfig", "grpo_train", "RewardModelConfig", "train_reward_model",
    "reward_accuracy", "score_answers", "sft_on_answers", "sample_answers", "evaluate_policy", "frozen_copy",
    "PromptSampler",
]


# ---------------------------------------------------------------------------------------------
# Provided: masked averages (used by the exercises and the loops)
# ---------------------------------------------------------------------------------------------

def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over the positions where `mask` is True (all of them, or along `dim`).

    Args:
        x: any shape. mask: the same shape, bool or 0/1.

    Returns:
        A scalar (dim=None) or `x` reduced along `dim`. Positions outside the mask do not count,
        neither in the sum nor in the number of terms; an empty mask gives 0, not NaN.
    """
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked positions; 0 outside the mask.

    PPO implementations normalise the advantages of a batch this way: the policy gradient's
    scale then does not depend on the scale of the rewards.
    """
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask.to(x.dtype)


def preference_accuracy(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> float:
    """Fraction of pairs where the chosen answer gets the higher reward (a tie counts as half)."""
    diff = chosen_rewards.detach().float() - rejected_rewards.detach().float()
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError("these tensors must have the same shape, got "
                         + ", ".join(f"{n}: {s}" for n, s in shapes.items()))


# ---------------------------------------------------------------------------------------------
# §1-2 The reward model and the Bradley-Terry loss
# ---------------------------------------------------------------------------------------------

class RewardModel(nn.Module):
    """A language model with a scalar head: reads a prompt and an answer, returns one number.

    The backbone is a GPT (notebook 06) usually copied from the SFT model, so that the reward
    model starts out "understanding" the same text the policy writes. Its `features(idx)`
    (B, T, d_model) feed a linear head that gives one value per position; the sequence's score is
    the value at its **last real token**, the only position that has read the whole answer
    (the model is causal: position t sees tokens 0..t only).

    Attributes:
        backbone: any module with ``features(idx) -> (B, T, d_model)`` (the course GPT).
        head: ``nn.Linear(d_model, 1)``.
    """

    def __init__(self, backbone: nn.Module, d_model: int | None = None) -> None:
        """Args:
            backbone: the GPT to read with (it is used as is: pass a copy to keep the original).
            d_model: its feature size; by default ``backbone.config.d_model``.
        """
        super().__init__()
        self.backbone = backbone
        if d_model is None:
            d_model = backbone.config.d_model
        self.head = nn.Linear(d_model, 1)
        # A small head: the scores start near 0, for every answer alike.
        nn.init.normal_(self.head.weight, std=1.0 / math.sqrt(d_model))
        nn.init.zeros_(self.head.bias)

    def token_values(self, idx: torch.Tensor) -> torch.Tensor:
        """The head's value at every position, (B, T): what the model would score if the
        sequence ended there. (PPO's value model is the same idea.)"""
        return self.head(self.backbone.features(idx)).squeeze(-1)

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Score each sequence of a batch.

        Args:
            idx: token ids, (B, T) long, right-padded.
            attention_mask: (B, T), True (or 1) at real tokens, then False at the padding on the
                right. None means no padding.

        Returns:
            (B,) float: the head's output at the last real token of each row, i.e. at position
            ``attention_mask[b].sum() - 1``. Padding after it (whatever its token ids) does not
            change the score.

        Raises:
            ValueError: for a badly shaped idx or mask, or a row without a real token.
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (batch, seq), got {tuple(idx.shape)}")
        if attention_mask is not None:
            if tuple(attention_mask.shape) != tuple(idx.shape):
                raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, idx has "
                                 f"{tuple(idx.shape)}: they must match")
            if not bool(attention_mask.bool().any(dim=1).all()):
                raise ValueError("every row of attention_mask needs at least one real token (True)")
        ### BEGIN SOLUTION [09 §1] Run the backbone's features through the head to get one value per position, then pick for each row the value at its last real token (where the right-padded mask says the row ends).
        values = self.head(self.backbone.features(idx)).squeeze(-1)          # (B, T): a value per position
        if attention_mask is None:
            last = torch.full((idx.shape[0],), idx.shape[1] - 1, dtype=torch.long, device=idx.device)
        else:
            # Right padding: a row of n real tokens ends at position n - 1.
            last = attention_mask.long().sum(dim=1) - 1                        # (B,)
        return values.gather(1, last.unsqueeze(1)).squeeze(1)                  # (B,)
        ### END SOLUTION


def bradley_terry_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """The Bradley-Terry loss of a batch of comparisons.

    The Bradley-Terry model says a rater prefers answer c to answer r with probability
    ``sigmoid(r_c - r_r)``: only the *difference* of the scores matters. Maximising the
    likelihood of the raters' choices means minimising, averaged over the batch,

        loss = -log sigmoid(r_chosen - r_rejected)

    which is log 2 ~ 0.693 when the model cannot tell the answers apart (equal scores), goes to 0
    as the chosen answer's score pulls ahead, and grows linearly when the model ranks a pair the
    wrong way round.

    Args:
        chosen_rewards, rejected_rewards: (B,) scores of the preferred and the other answer.

    Returns:
        A scalar tensor: the mean loss over the batch. Finite for any finite scores (even a
        difference of -1000).
    """
    _check_same_shape(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    ### BEGIN SOLUTION [09 §2] Average -log(sigmoid(margin)) over the batch, margin = chosen minus rejected, with a log-sigmoid that stays finite for large negative margins.
    # F.logsigmoid(x) = -log(1 + exp(-x)), computed without overflow: log(sigmoid(x)) would give
    # log(0) = -inf as soon as sigmoid(x) underflows (x < -90 or so in float32).
    return -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §3-4 Log-probabilities of a response under a policy
# ---------------------------------------------------------------------------------------------

def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """The log-probability the model gave to each token that actually follows.

    Args:
        logits: (B, T, V), the model's output for `input_ids` (position t predicts token t + 1).
        input_ids: (B, T) long.

    Returns:
        (B, T - 1) float: column t is ``log softmax(logits[:, t])[input_ids[:, t + 1]]``, the
        log-probability of token t + 1 given tokens 0..t. (Token 0 has no prediction.) Computed
        in float32 at least, whatever the dtype of `logits`.
    """
    if logits.dim() != 3 or input_ids.dim() != 2 or tuple(logits.shape[:2]) != tuple(input_ids.shape):
        raise ValueError(f"logits must be (B, T, V) and input_ids (B, T), got {tuple(logits.shape)} "
                         f"and {tuple(input_ids.shape)}")
    ### BEGIN SOLUTION [09 §3] Take log-probabilities over the vocabulary from every position but the last, then pick in each the entry of the token that comes next (ids shifted by one).
    logprobs = F.log_softmax(logits[:, :-1].float(), dim=-1)                  # (B, T-1, V)
    next_tokens = input_ids[:, 1:].unsqueeze(-1)                               # (B, T-1, 1)
    return logprobs.gather(-1, next_tokens).squeeze(-1)                        # (B, T-1)
    ### END SOLUTION


def sequence_logprob(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """log pi(response | prompt): the sum of the log-probabilities of the response tokens only.

    The prompt is given, not generated: its tokens are not the policy's choice, so they must not
    count (nor must the padding).

    Args:
        logits: (B, T, V), the model's output for `input_ids`.
        input_ids: (B, T) long, prompt + response + padding.
        response_mask: (B, T), True at the response tokens themselves. Column 0 must be False
            (the first token has no prediction).

    Returns:
        (B,) float: for each row, the sum of `token_logprobs` over its response tokens.
    """
    if tuple(response_mask.shape) != tuple(input_ids.shape):
        raise ValueError(f"response_mask has shape {tuple(response_mask.shape)}, input_ids has "
                         f"{tuple(input_ids.shape)}: they must match")
    if bool(response_mask[:, 0].bool().any()):
        raise ValueError("response_mask[:, 0] is True somewhere: the first token of a sequence has no "
                         "prediction, so a response cannot start there (put the prompt first)")
    ### BEGIN SOLUTION [09 §4] Per-token log-probabilities cover tokens 1..T-1; line the mask up with them (the same shift) and add up the entries that belong to the response.
    per_token = token_logprobs(logits, input_ids)                              # (B, T-1): tokens 1 .. T-1
    mask = response_mask[:, 1:].to(per_token.dtype)                           # (B, T-1): same tokens
    return (per_token * mask).sum(dim=1)                                       # (B,)
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §5 DPO
# ---------------------------------------------------------------------------------------------

def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> torch.Tensor:
    """The DPO loss (Rafailov et al., 2023, eq. 7), averaged over a batch of pairs.

    DPO's implicit reward of an answer y is ``beta * (log pi(y|x) - log pi_ref(y|x))``: how much
    more likely the policy makes it than the reference does. Plugged into Bradley-Terry:

        loss = -log sigmoid( beta * [ (log pi(y_c) - log pi_ref(y_c)) - (log pi(y_r) - log pi_ref(y_r)) ] )

    At the start (policy == reference) every implicit reward is 0 and the loss is log 2.

    Args:
        policy_chosen_logps, policy_rejected_logps: (B,) sequence log-probs under the policy.
        ref_chosen_logps, ref_rejected_logps: (B,) the same under the frozen reference.
        beta: > 0; a small beta lets the policy move far from the reference, a large one
            keeps it close.

    Returns:
        A scalar tensor (differentiable with respect to the policy's log-probs).
    """
    _check_same_shape(policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                      ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    ### BEGIN SOLUTION [09 §5] Each answer's implicit reward is beta times how much more log-likely the policy makes it than the reference; feed the chosen-minus-rejected difference to the Bradley-Terry loss.
    chosen_reward = beta * (policy_chosen_logps - ref_chosen_logps)           # (B,)
    rejected_reward = beta * (policy_rejected_logps - ref_rejected_logps)     # (B,)
    return -F.logsigmoid(chosen_reward - rejected_reward).mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# §6-8 PPO's parts (and GRPO's advantages)
# ---------------------------------------------------------------------------------------------

def kl_penalized_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                         mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """PPO's per-token reward for RLHF: a KL penalty at every token, the reward model's score at the end.

    For response token t of row b (response-aligned tensors, see the module docstring)::

        reward[b, t] = -kl_coef * (logprobs[b, t] - ref_logprobs[b, t])      (every real token)
                       + scores[b]                                          (last real token only)

    ``logprobs - ref_logprobs`` is a one-sample estimate of the KL divergence from the reference
    at that token: positive where the policy made the token more likely than the reference did.
    Penalising it keeps the policy close to the SFT model, so it cannot drift into text the
    reward model never saw (and scores wrongly).

    Args:
        scores: (B,) the reward model's score of each full sequence.
        logprobs, ref_logprobs: (B, L) log-probs of the sampled response tokens under the policy
            (at sampling time) and under the frozen reference.
        mask: (B, L) True at real response tokens (each row: True then False; at least one True).
        kl_coef: >= 0, the weight of the penalty.

    Returns:
        (B, L) float rewards, 0 at padding.
    """
    _check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    if scores.shape != logprobs.shape[:1]:
        raise ValueError(f"scores must have shape ({logprobs.shape[0]},), got {tuple(scores.shape)}")
    if not bool(mask.bool().any(dim=1).all()):
        raise ValueError("every response needs at least one token (a True in each row of mask)")
    ### BEGIN SOLUTION [09 §6] Penalise each real token by kl_coef times how much more log-likely the policy made it than the reference, and add each row's score at its last real token.
    mask = mask.to(logprobs.dtype)
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask                     # (B, L)
    last = mask.long().sum(dim=1) - 1                                          # (B,): last real token
    rewards = rewards.scatter_add(1, last.unsqueeze(1), scores.to(rewards.dtype).unsqueeze(1))
    return rewards
    ### END SOLUTION


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                gamma: float = 1.0, lam: float = 0.95,
                last_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al., 2016), walking backwards in time.

    For each step t of each row (the time axis is the last one)::

        next_value = values[t + 1]   (last_values after the last step), times (1 - dones[t])
        delta[t]   = rewards[t] + gamma * next_value - values[t]
        A[t]       = delta[t] + gamma * lam * (1 - dones[t]) * A[t + 1]      (A after the last step = 0)
        returns[t] = A[t] + values[t]

    ``dones[t] = 1`` means the episode ended with step t: nothing after it belongs to the same
    episode, so neither its value nor its advantage may leak back into step t. (In RLHF an
    episode is one response: done at its last token, and the padding after it is cut off.)

    Args:
        rewards, values: (..., T) float.
        dones: (..., T) bool or 0/1.
        gamma: discount (1.0 in RLHF: the episode is short). lam: the bias/variance knob
            (0: one-step TD errors; 1: Monte-Carlo returns minus the value).
        last_values: (...,) the value of the state after the last step (for rows cut off
            mid-episode); None means 0.

    Returns:
        (advantages, returns), each shaped like `rewards`.
    """
    _check_same_shape(rewards=rewards, values=values, dones=dones)
    if last_values is not None and tuple(last_values.shape) != tuple(rewards.shape[:-1]):
        raise ValueError(f"last_values must have shape {tuple(rewards.shape[:-1])}, got {tuple(last_values.shape)}")
    ### BEGIN SOLUTION [09 §7] Walk t from the last step to the first, carrying the next step's value and advantage; a done at step t stops both from flowing back. Returns are advantages plus values.
    not_done = 1.0 - dones.to(rewards.dtype)                                   # (..., T)
    next_value = torch.zeros_like(rewards[..., 0]) if last_values is None else last_values.to(rewards.dtype)
    next_advantage = torch.zeros_like(rewards[..., 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[-1])):
        delta = rewards[..., t] + gamma * next_value * not_done[..., t] - values[..., t]
        next_advantage = delta + gamma * lam * not_done[..., t] * next_advantage
        advantages[..., t] = next_advantage
        next_value = values[..., t]
    return advantages, advantages + values
    ### END SOLUTION


def ppo_clip_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                  mask: torch.Tensor, clip_eps: float = 0.2) -> torch.Tensor:
    """PPO's clipped surrogate objective, as a loss to minimise (Schulman et al., 2017, eq. 7).

    With ``ratio = exp(logprobs - old_logprobs)`` (how much more likely the token is now than
    when it was sampled)::

        loss = -masked_mean( min(ratio * A, clip(ratio, 1 - clip_eps, 1 + clip_eps) * A) )

    The min makes the objective pessimistic: once the ratio has moved more than clip_eps in the
    direction the advantage asks for, the clipped term is the smaller one and its gradient is
    0, so one batch of samples cannot push the policy arbitrarily far.

    Args:
        logprobs: (B, L) log-probs of the sampled tokens under the current policy (with grad).
        old_logprobs: (B, L) the same at sampling time (no grad).
        advantages: (B, L).
        mask: (B, L) True at real tokens; only they count in the mean.
        clip_eps: > 0.

    Returns:
        A scalar tensor.
    """
    _check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
    ### BEGIN SOLUTION [09 §8] Form the probability ratio from the two log-probs, compare the ratio-weighted advantage with the same using the ratio clamped to [1 - eps, 1 + eps], keep the smaller one, and return minus its masked mean.
    ratio = torch.exp(logprobs - old_logprobs)                                 # (B, L)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -masked_mean(torch.min(unclipped, clipped), mask)
    ### END SOLUTION


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, clip_eps: float | None = 0.2) -> torch.Tensor:
    """The value model's loss: half the squared error to the returns, with PPO's value clipping.

    Without clipping (``clip_eps=None``): ``0.5 * masked_mean((values - returns) ** 2)``.
    With it, the value may move at most clip_eps away from ``old_values`` (its prediction at
    sampling time) before the loss stops rewarding the move; taking the *larger* of the two
    errors keeps this pessimistic, as the policy's clipped objective is::

        clipped = old_values + clamp(values - old_values, -clip_eps, clip_eps)
        loss    = 0.5 * masked_mean( max((values - returns) ** 2, (clipped - returns) ** 2) )

    Args:
        values: (B, L) current predictions (with grad). old_values: (B, L) at sampling time.
        returns: (B, L) targets (advantages + old values, from `compute_gae`).
        mask: (B, L) True at real tokens.
        clip_eps: > 0, or None for the plain squared error.

    Returns:
        A scalar tensor.
    """
    _check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    ### BEGIN SOLUTION [09 §8] Half the masked mean squared error to the returns; when clipping, also compute the error of a prediction kept within clip_eps of the old one and use the larger of the two errors at each token.
    error = (values - returns) ** 2
    if clip_eps is not None:
        clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
        error = torch.max(error, (clipped - returns) ** 2)
    return 0.5 * masked_mean(error, mask)
    ### END SOLUTION


def group_relative_advantages(scores: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO's advantages: each answer's score relative to the other answers to the same prompt.

    The scores come in consecutive groups of `group_size` answers to one prompt
    (``scores[0:G]`` answer prompt 0, ``scores[G:2G]`` prompt 1, ...). Each score is
    standardised within its group::

        A = (score - mean of its group) / (std of its group + eps)

    (std with Bessel's correction, PyTorch's default). The group's mean replaces PPO's value
    model as the baseline: no critic to train.

    Args:
        scores: (N,) with N a multiple of group_size. group_size: >= 2.

    Returns:
        (N,) advantages; a group whose answers all score the same gets 0.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be at least 2 (a group compares answers), got {group_size}")
    if scores.dim() != 1 or scores.shape[0] % group_size != 0:
        raise ValueError(f"scores must be (N,) with N a multiple of group_size={group_size}, got {tuple(scores.shape)}")
    ### BEGIN SOLUTION [09 §8] View the scores as one row per prompt, standardise each row by its own mean and standard deviation, and flatten back.
    groups = scores.view(-1, group_size)                                        # (N/G, G): one row per prompt
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    return ((groups - mean) / (std + eps)).reshape(-1)
    ### END SOLUTION


# =============================================================================================
# Provided: data, generation and the training loops. Read them: this is where the pieces meet.
# =============================================================================================

class Prompt(NamedTuple):
    """One prompt for the policy. `text` is the prompt in the data's chat format (what the
    hidden rule reads, `course_lib.data.chat_prompt`), `ids` its tokens in the model's chat
    template, `answer` the true answer (to measure correctness), or None."""

    text: str
    ids: list[int]
    answer: str | None = None


class TokenizedPair(NamedTuple):
    """A preference pair as token ids: the prompt, the chosen and the rejected answer (each
    answer ends with the template's end-of-answer token)."""

    prompt: list[int]
    chosen: list[int]
    rejected: list[int]


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids into (B, T) long ids and a (B, T) bool mask (True at real tokens)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.bool)
    for row, seq in enumerate(seqs):
        ids[row, :len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, :len(seq)] = True
    return ids.to(device), mask.to(device)


def pair_batch(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], pad_id: int,
               device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """prompt + answer rows, right-padded: (ids, attention_mask, response_mask), each (B, T)."""
    ids, attention_mask = pad_sequences([list(p) + list(a) for p, a in zip(prompts, answers)], pad_id, device)
    positions = torch.arange(ids.shape[1], device=ids.device)
    starts = torch.tensor([len(p) for p in prompts], device=ids.device)
    response_mask = (positions[None, :] >= starts[:, None]) & attention_mask
    return ids, attention_mask, response_mask


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy with gradients off and in eval mode: the reference policy pi_ref."""
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _logits(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    out = model(idx)
    return out[0] if isinstance(out, tuple) else out


# ---------------------------------------------------------------------------------------------
# Reward model training
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RewardModelConfig:
    steps: int = 80
    batch_size: int = 32          # preference pairs per step
    lr: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0


def _pair_scores(reward_model: nn.Module, pairs: Sequence[TokenizedPair], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Score chosen and rejected answers of `pairs` in one batch: ((B,), (B,))."""
    device = _device_of(reward_model)
    prompts = [p.prompt for p in pairs] * 2
    answers = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    ids, attention_mask, _ = pair_batch(prompts, answers, pad_id, device)
    scores = reward_model(ids, attention_mask)
    return scores[:len(pairs)], scores[len(pairs):]


def train_reward_model(reward_model: RewardModel, pairs: Sequence[TokenizedPair], cfg: RewardModelConfig,
                       pad_id: int, *, callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `reward_model` with `bradley_terry_loss` on `pairs` (AdamW, shuffled batches).

    Returns one dict per step: step, loss, accuracy (on the batch, against its labels).
    """
    rng = random.Random(cfg.seed)
    optimizer = torch.optim.AdamW([p for p in reward_model.parameters() if p.requires_grad],
                                  lr=cfg.lr, weight_decay=cfg.weight_decay)
    order: list[int] = []
    history = []
    reward_model.train()
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:
            fresh = list(range(len(pairs)))
            rng.shuffle(fresh)
            order += fresh
        batch = [pairs[i] for i in order[:cfg.batch_size]]
        del order[:cfg.batch_size]
        chosen, rejected = _pair_scores(reward_model, batch, pad_id)
        loss = bradley_terry_loss(chosen, rejected)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reward_model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        record = {"step": step, "loss": loss.item(), "accuracy": preference_accuracy(chosen, rejected)}
        history.append(record)
        if callback is not None:
            callback(record)
    reward_model.eval()
    return history


@torch.no_grad()
def reward_accuracy(reward_model: nn.Module, pairs: Sequence[TokenizedPair], pad_id: int,
                    batch_size: int = 64) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(accuracy, chosen scores, rejected scores) of the reward model on `pairs`."""
    was_training = reward_model.training
    reward_model.eval()
    chosen, rejected = [], []
    for start in range(0, len(pairs), batch_size):
        c, r = _pair_scores(reward_model, pairs[start:start + batch_size], pad_id)
        chosen.append(c.float().cpu())
        rejected.append(r.float().cpu())
    reward_model.train(was_training)
    chosen_t, rejected_t = torch.cat(chosen), torch.cat(rejected)
    return preference_accuracy(chosen_t, rejected_t), chosen_t, rejected_t


@torch.no_grad()
def score_answers(reward_model: nn.Module, prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]],
                  pad_id: int, batch_size: int = 64) -> torch.Tensor:
    """The reward model's score of each prompt + answer, (N,) on the CPU."""
    device = _device_of(reward_model)
    out = []
    for start in range(0, len(prompts), batch_size):
        ids, attention_mask, _ = pair_batch(prompts[start:start + batch_size], answers[start:start + batch_size],
                                            pad_id, device)
        out.append(reward_model(ids, attention_mask).float().cpu())
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# Supervised warm-up on answers (a plain masked cross-entropy, no exercise needed)
# ---------------------------------------------------------------------------------------------

def sft_on_answers(model: nn.Module, examples: Sequence[tuple[list[int], list[int]]], pad_id: int, *,
                   steps: int, batch_size: int = 32, lr: float = 3e-4, seed: int = 0) -> list[float]:
    """Fine-tune a language model on (prompt ids, answer ids) examples, the loss on the answers only.

    The learning rate decays from `lr` to a tenth of it (cosine). Returns the loss of each step.
    """
    rng = random.Random(seed)
    device = _device_of(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * step / max(1, steps))))
        batch = [examples[rng.randrange(len(examples))] for _ in range(batch_size)]
        ids, _, response_mask = pair_batch([b[0] for b in batch], [b[1] for b in batch], pad_id, device)
        targets = ids[:, 1:].masked_fill(~response_mask[:, 1:], -100)        # loss on answer tokens only
        logits = _logits(model, ids)[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


# ---------------------------------------------------------------------------------------------
# Sampling responses
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def generate_responses(model: nn.Module, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, end_id: int,
                       temperature: float = 1.0, top_k: int | None = None,
                       generator: torch.Generator | None = None) -> list[list[int]]:
    """Sample one response per prompt with the model's own `generate` (notebook 06).

    Prompts of the same length are generated together (the GPT has no padding mask, so a batch
    must not mix lengths). Each response is cut after its first `end_id`, which it keeps: the
    policy learns to *stop*, too. A response that never emits `end_id` has `max_new_tokens` tokens.
    """
    device = _device_of(model)
    was_training = model.training
    model.eval()
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    responses: list[list[int]] = [[] for _ in prompts]
    for _, rows in sorted(by_length.items()):
        idx = torch.tensor([list(prompts[i]) for i in rows], dtype=torch.long, device=device)
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator,
                             eos_id=end_id)
        for row, seq in zip(rows, out[:, idx.shape[1]:].tolist()):
            cut = seq.index(end_id) + 1 if end_id in seq else len(seq)
            responses[row] = seq[:max(cut, 1)][:max_new_tokens]
    model.train(was_training)
    return responses


class Rollout(NamedTuple):
    """A batch of sampled responses and everything PPO needs about them (response-aligned, (B, L))."""

    ids: torch.Tensor             # (B, T) prompt + response, right-padded
    attention_mask: torch.Tensor  # (B, T)
    positions: torch.Tensor       # (B, L) index into token_logprobs' (B, T-1) of each response token
    mask: torch.Tensor            # (B, L) True at real response tokens
    logprobs: torch.Tensor        # (B, L) under the policy, at sampling time
    ref_logprobs: torch.Tensor    # (B, L) under the reference
    values: torch.Tensor          # (B, L) the value model's estimates at sampling time (zeros if none)
    scores: torch.Tensor          # (B,) the reward model's score of each sequence
    responses: list[list[int]]    # the sampled response ids


def _response_positions(prompt_lengths: torch.Tensor, response_lengths: torch.Tensor, total: int):
    """(positions (B, L), mask (B, L)): where each response token's log-prob sits in (B, T-1)."""
    width = int(response_lengths.max())
    offsets = torch.arange(width, device=prompt_lengths.device)
    mask = offsets[None, :] < response_lengths[:, None]
    positions = (prompt_lengths[:, None] - 1 + offsets[None, :]).clamp(max=total - 2)
    return positions, mask


def _policy_outputs(policy: nn.Module, ids: torch.Tensor, positions: torch.Tensor, temperature: float = 1.0):
    """(log-probs (B, L), values (B, L) or None) of the response tokens under `policy`.

    The policy that samples at a temperature is softmax(logits / temperature): its log-probs
    (and the reference's, to compare like with like) are computed from the scaled logits.
    """
    out = policy(ids)
    logits, values = (out if isinstance(out, tuple) else (out, None))
    if temperature != 1.0:
        logits = logits / temperature
    logprobs = token_logprobs(logits, ids).gather(1, positions)
    if values is not None:
        # The value of the state *before* response token t: read at the token that precedes it,
        # the same position whose logits predict token t.
        values = values[:, :-1].float().gather(1, positions)
    return logprobs, values


@torch.no_grad()
def rollout(policy: nn.Module, ref_model: nn.Module, reward_model: nn.Module, prompts: Sequence[Prompt], *,
            max_new_tokens: int, end_id: int, pad_id: int, temperature: float = 1.0,
            generator: torch.Generator | None = None) -> Rollout:
    """Sample a response per prompt from the policy and measure it: log-probs under the policy
    and the reference, values, and the reward model's score."""
    lm = policy.lm if isinstance(policy, PolicyWithValue) else policy
    device = _device_of(policy)
    responses = generate_responses(lm, [p.ids for p in prompts], max_new_tokens=max_new_tokens, end_id=end_id,
                                   temperature=temperature, generator=generator)
    ids, attention_mask, _ = pair_batch([p.ids for p in prompts], responses, pad_id, device)
    prompt_lengths = torch.tensor([len(p.ids) for p in prompts], device=device)
    response_lengths = torch.tensor([len(r) for r in responses], device=device)
    positions, mask = _response_positions(prompt_lengths, response_lengths, ids.shape[1])
    policy.eval()
    logprobs, values = _policy_outputs(policy, ids, positions, temperature)
    ref_logprobs, _ = _policy_outputs(ref_model, ids, positions, temperature)
    scores = reward_model(ids, attention_mask).float()
    if values is None:
        values = torch.zeros_like(logprobs)
    return Rollout(ids, attention_mask, positions, mask, logprobs, ref_logprobs, values * mask, scores, responses)


# ---------------------------------------------------------------------------------------------
# PPO
# ---------------------------------------------------------------------------------------------

class PolicyWithValue(nn.Module):
    """The policy (a GPT) with a value head on its features: one forward pass gives both the
    next-token logits and a value per position (TRL's "CausalLM with value head"). The value
    model shares the policy's body, which is cheaper than a second GPT (InstructGPT used one,
    initialised from the reward model)."""

    def __init__(self, lm: nn.Module, d_model: int | None = None) -> None:
        super().__init__()
        self.lm = lm
        d_model = d_model if d_model is not None else lm.config.d_model
        self.value_head = nn.Linear(d_model, 1)
        # Zero: the values start at 0 and the policy's outputs are untouched by the new head.
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.lm.features(idx)                                       # (B, T, d_model)
        return self.lm.lm_head(features), self.value_head(features).squeeze(-1)  # (B, T, V), (B, T)


@dataclasses.dataclass
class PPOConfig:
    steps: int = 30               # rollouts, each followed by `epochs` passes of minibatch updates
    batch_size: int = 48          # prompts (answers) per rollout
    minibatch_size: int = 24
    epochs: int = 2
    max_new_tokens: int = 24      # longest answer sampled
    temperature: float = 1.0      # sampling temperature; the policy trained is softmax(logits / temperature)
    kl_coef: float = 0.1          # weight of the per-token KL penalty (kl_penalized_rewards)
    gamma: float = 1.0            # discount (compute_gae)
    lam: float = 0.95             # GAE's lambda
    clip_eps: float = 0.2         # ppo_clip_loss
    value_clip_eps: float | None = 0.2  # value_loss
    vf_coef: float = 0.1          # loss = ppo_clip_loss + vf_coef * value_loss
    lr: float = 3e-5
    max_grad_norm: float = 1.0
    whiten_advantages: bool = True  # standardise the advantages over the batch (masked_whiten)
    seed: int = 0


class PromptSampler:
    """Random batches of prompts that all have the same number of tokens.

    The GPT has no padding mask, so prompts of different lengths cannot be generated together:
    a batch of one length is generated in one go, which is several times faster than one call
    per length. Each batch comes from one length (chosen with probability proportional to how
    many prompts have it), in a fresh random order; a length with fewer prompts than the batch
    repeats some of them (several samples of one prompt are fine for RL).
    """

    def __init__(self, prompts: Sequence[Prompt], seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.by_length: dict[int, list[Prompt]] = {}
        for p in prompts:
            self.by_length.setdefault(len(p.ids), []).append(p)
        self.lengths = sorted(self.by_length)
        self.order: dict[int, list[Prompt]] = {n: [] for n in self.lengths}

    def sample(self, n: int) -> list[Prompt]:
        length = self.rng.choices(self.lengths, weights=[len(self.by_length[k]) for k in self.lengths])[0]
        queue = self.order[length]
        while len(queue) < n:
            fresh = list(self.by_length[length])
            self.rng.shuffle(fresh)
            queue += fresh
        batch = queue[:n]
        del queue[:n]
        return batch


def _sequence_kl(r: Rollout) -> torch.Tensor:
    """(B,) sum over each response of log pi - log pi_ref: a one-sample estimate of KL(pi || pi_ref)."""
    return ((r.logprobs - r.ref_logprobs) * r.mask).sum(dim=1)


def ppo_train(policy: PolicyWithValue, ref_model: nn.Module, reward_model: nn.Module, prompts: Sequence[Prompt],
              cfg: PPOConfig, *, end_id: int, pad_id: int, judge: Callable[[list[Prompt], list[list[int]]], dict] | None = None,
              callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Optimise `policy` against `reward_model` with PPO, penalised by the KL to `ref_model`.

    Each step: sample a response per prompt (`rollout`), turn scores and log-probs into per-token
    rewards (`kl_penalized_rewards`), estimate advantages (`compute_gae`, done at each response's
    last token), then `epochs` passes of minibatch updates of ``ppo_clip_loss + vf_coef * value_loss``.

    `judge(prompts, responses)` (optional) measures the responses with a rule the policy never
    sees (for the notebook's curves: the raters' preferred rate). Returns one dict per step.
    """
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=_device_of(policy)).manual_seed(cfg.seed)
    sampler = PromptSampler(prompts, cfg.seed)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    history = []
    for step in range(cfg.steps):
        t0 = time.perf_counter()
        batch = sampler.sample(cfg.batch_size)
        r = rollout(policy, ref_model, reward_model, batch, max_new_tokens=cfg.max_new_tokens, end_id=end_id,
                    pad_id=pad_id, temperature=cfg.temperature, generator=generator)
        mask = r.mask.float()
        rewards = kl_penalized_rewards(r.scores, r.logprobs, r.ref_logprobs, r.mask, cfg.kl_coef)
        # The episode (one response) ends at its last real token; padding after it is cut off.
        last = r.mask.long().sum(dim=1) - 1
        dones = torch.zeros_like(mask).scatter(1, last.unsqueeze(1), 1.0)
        advantages, returns = compute_gae(rewards, r.values, dones, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            advantages = masked_whiten(advantages, r.mask)
        policy.train()
        stats = {"pg_loss": 0.0, "vf_loss": 0.0, "clipfrac": 0.0}
        n_updates = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(len(batch), generator=torch.Generator().manual_seed(cfg.seed * 1000 + step))
            for start in range(0, len(batch), cfg.minibatch_size):
                rows = order[start:start + cfg.minibatch_size].to(r.ids.device)
                logprobs, values = _policy_outputs(policy, r.ids[rows], r.positions[rows], cfg.temperature)
                pg = ppo_clip_loss(logprobs, r.logprobs[rows], advantages[rows], r.mask[rows], cfg.clip_eps)
                vf = value_loss(values, r.values[rows], returns[rows], r.mask[rows], cfg.value_clip_eps)
                loss = pg + cfg.vf_coef * vf
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                optimizer.step()
                with torch.no_grad():
                    ratio = torch.exp(logprobs - r.logprobs[rows])
                    stats["clipfrac"] += float(masked_mean(((ratio - 1).abs() > cfg.clip_eps).float(), r.mask[rows]))
                stats["pg_loss"] += pg.item()
                stats["vf_loss"] += vf.item()
                n_updates += 1
        record = {"step": step, "score": float(r.scores.mean()), "kl": float(_sequence_kl(r).mean()),
                  "response_tokens": float(mask.sum(dim=1).mean()),
                  **{k: v / max(n_updates, 1) for k, v in stats.items()}, "seconds": time.perf_counter() - t0}
        if judge is not None:
            record.update(judge(batch, r.responses))
        history.append(record)
        if callback is not None:
            callback(record)
    policy.eval()
    return history


# ---------------------------------------------------------------------------------------------
# DPO
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class DPOConfig:
    steps: int = 60
    batch_size: int = 32          # preference pairs per step
    beta: float = 0.5             # dpo_loss's beta: larger keeps the policy closer to the reference
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    seed: int = 0


@torch.no_grad()
def _pair_logps(model: nn.Module, pairs: Sequence[TokenizedPair], pad_id: int, batch_size: int = 64):
    """(chosen (N,), rejected (N,)) sequence log-probs of the answers of `pairs` under `model`."""
    chosen, rejected = [], []
    for start in range(0, len(pairs), batch_size):
        c, r = _pair_logps_grad(model, pairs[start:start + batch_size], pad_id)
        chosen.append(c)
        rejected.append(r)
    return torch.cat(chosen), torch.cat(rejected)


def _pair_logps_grad(model: nn.Module, pairs: Sequence[TokenizedPair], pad_id: int):
    device = _device_of(model)
    prompts = [p.prompt for p in pairs] * 2
    answers = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    ids, _, response_mask = pair_batch(prompts, answers, pad_id, device)
    logps = sequence_logprob(_logits(model, ids), ids, response_mask)
    return logps[:len(pairs)], logps[len(pairs):]


def dpo_train(policy: nn.Module, ref_model: nn.Module, pairs: Sequence[TokenizedPair], cfg: DPOConfig, *,
              pad_id: int, callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Fit `policy` to the preference `pairs` with `dpo_loss` (no reward model, no sampling).

    The reference's log-probs never change: they are computed once, before training.
    Returns one dict per step: loss, implicit-reward accuracy and margin on the batch.
    """
    ref_chosen, ref_rejected = _pair_logps(ref_model, pairs, pad_id)
    rng = random.Random(cfg.seed)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    history = []
    policy.train()
    for step in range(cfg.steps):
        rows = [rng.randrange(len(pairs)) for _ in range(cfg.batch_size)]
        chosen, rejected = _pair_logps_grad(policy, [pairs[i] for i in rows], pad_id)
        rc, rr = ref_chosen[rows], ref_rejected[rows]
        loss = dpo_loss(chosen, rejected, rc, rr, cfg.beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        optimizer.step()
        with torch.no_grad():
            margin = cfg.beta * ((chosen - rc) - (rejected - rr))
        record = {"step": step, "loss": loss.item(), "accuracy": float((margin > 0).float().mean()),
                  "margin": float(margin.mean())}
        history.append(record)
        if callback is not None:
            callback(record)
    policy.eval()
    return history


# ---------------------------------------------------------------------------------------------
# GRPO
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class GRPOConfig:
    steps: int = 30
    prompts_per_step: int = 8
    group_size: int = 4           # answers sampled per prompt
    epochs: int = 1
    max_new_tokens: int = 24
    temperature: float = 1.0
    kl_coef: float = 0.1          # weight of the KL estimate added to the loss
    clip_eps: float = 0.2
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    seed: int = 0


def grpo_train(policy: nn.Module, ref_model: nn.Module, reward_model: nn.Module, prompts: Sequence[Prompt],
               cfg: GRPOConfig, *, end_id: int, pad_id: int,
               judge: Callable[[list[Prompt], list[list[int]]], dict] | None = None,
               callback: Callable[[dict], None] | None = None) -> list[dict]:
    """GRPO: `group_size` responses per prompt, advantages relative to the group, no value model.

    The loss is ``ppo_clip_loss`` with each response's advantage at all its tokens, plus
    ``kl_coef`` times a per-token KL estimate (exp(ref - lp) - (ref - lp) - 1, which is >= 0),
    as in DeepSeekMath. Returns one dict per step.
    """
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=_device_of(policy)).manual_seed(cfg.seed)
    sampler = PromptSampler(prompts, cfg.seed)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    history = []
    for step in range(cfg.steps):
        t0 = time.perf_counter()
        batch = [p for p in sampler.sample(cfg.prompts_per_step) for _ in range(cfg.group_size)]
        r = rollout(policy, ref_model, reward_model, batch, max_new_tokens=cfg.max_new_tokens, end_id=end_id,
                    pad_id=pad_id, temperature=cfg.temperature, generator=generator)
        advantages = group_relative_advantages(r.scores, cfg.group_size)[:, None].expand_as(r.logprobs)
        policy.train()
        for _ in range(cfg.epochs):
            logprobs, _ = _policy_outputs(policy, r.ids, r.positions, cfg.temperature)
            pg = ppo_clip_loss(logprobs, r.logprobs, advantages, r.mask, cfg.clip_eps)
            log_ratio_ref = r.ref_logprobs - logprobs
            kl = masked_mean(torch.exp(log_ratio_ref) - log_ratio_ref - 1.0, r.mask)
            loss = pg + cfg.kl_coef * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            optimizer.step()
        record = {"step": step, "score": float(r.scores.mean()), "kl": float(_sequence_kl(r).mean()),
                  "response_tokens": float(r.mask.float().sum(dim=1).mean()), "pg_loss": pg.item(),
                  "seconds": time.perf_counter() - t0}
        if judge is not None:
            record.update(judge(batch, r.responses))
        history.append(record)
        if callback is not None:
            callback(record)
    policy.eval()
    return history


# ---------------------------------------------------------------------------------------------
# Measuring a policy
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def sample_answers(model: nn.Module, prompts: Sequence[Prompt], *, decode: Callable[[list[int]], str], end_id: int,
                   max_new_tokens: int = 16, samples: int = 1, temperature: float = 1.0, seed: int = 0) -> list[str]:
    """`samples` sampled answers per prompt (prompt-major), decoded, without the end token."""
    lm = model.lm if isinstance(model, PolicyWithValue) else model
    generator = torch.Generator(device=_device_of(lm)).manual_seed(seed)
    all_prompts = [p.ids for p in prompts for _ in range(samples)]
    responses = generate_responses(lm, all_prompts, max_new_tokens=max_new_tokens, end_id=end_id,
                                   temperature=temperature, generator=generator)
    return [decode([t for t in r if t != end_id]) for r in responses]


@torch.no_grad()
def evaluate_policy(model: nn.Module, ref_model: nn.Module, reward_model: nn.Module, prompts: Sequence[Prompt], *,
                    decode: Callable[[list[int]], str], end_id: int, pad_id: int, max_new_tokens: int = 16,
                    samples: int = 1, temperature: float = 1.0, seed: int = 0, batch_size: int = 64) -> dict:
    """Sample answers to `prompts` and measure them.

    Returns a dict: ``preferred_rate`` (the raters' hidden rule, `course_lib.data.preferred_rate`),
    ``rule_score`` (the hidden rule's mean score, `course_lib.data.preference_score`),
    ``correct_rate`` (the true answer appears in the answer; prompts without one are skipped),
    ``score`` (mean reward-model score), ``kl`` (mean over answers of sum log pi - log pi_ref, a
    sample estimate of KL(pi || pi_ref) per answer), ``tokens`` (mean answer length), and
    ``answers`` (the decoded texts, `samples` per prompt, prompt-major).
    """
    from course_lib.data import preference_score, preferred_rate

    lm = model.lm if isinstance(model, PolicyWithValue) else model
    generator = torch.Generator(device=_device_of(lm)).manual_seed(seed)
    all_prompts = [p for p in prompts for _ in range(samples)]
    texts, scores, kls, lengths = [], [], [], []
    for start in range(0, len(all_prompts), batch_size):
        batch = all_prompts[start:start + batch_size]
        r = rollout(lm, ref_model, reward_model, batch, max_new_tokens=max_new_tokens, end_id=end_id, pad_id=pad_id,
                    temperature=temperature, generator=generator)
        texts += [decode([t for t in resp if t != end_id]) for resp in r.responses]
        scores.append(r.scores.cpu())
        kls.append(_sequence_kl(r).cpu())
        lengths += [len(resp) for resp in r.responses]
    with_answer = [(p, t) for p, t in zip(all_prompts, texts) if p.answer]
    correct = (sum(p.answer.lower() in t.lower() for p, t in with_answer) / len(with_answer)) if with_answer else float("nan")
    return {
        "preferred_rate": preferred_rate([p.text for p in all_prompts], texts),
        "rule_score": sum(preference_score(p.text, t) for p, t in zip(all_prompts, texts)) / len(texts),
        "correct_rate": correct,
        "score": float(torch.cat(scores).mean()),
        "kl": float(torch.cat(kls).mean()),
        "tokens": sum(lengths) / len(lengths),
        "answers": texts,
    }
