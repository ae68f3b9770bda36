"""The provided RLHF loops of course_lib.rlhf (notebook 09) run end to end on a tiny GPT.

The exercises have their own checks (tests/test_checks_can_fail.py); this file covers the
plumbing around them: padding and response alignment, the rollout, and one short run of each
loop (reward model, DPO, PPO, GRPO), with properties that must hold at the start of training
(DPO's loss is log 2, the policy's KL to its own copy is 0).
"""

import math

import pytest
import torch

rlhf = pytest.importorskip("course_lib.rlhf")
decoder = pytest.importorskip("course_lib.decoder")

VOCAB, END, PAD = 12, 10, 11


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = decoder.GPT(decoder.GPTConfig(vocab_size=VOCAB, block_size=24, n_layer=1, n_head=2, d_model=16))
    return model.eval()


def _prompts(n=6):
    rows = [[1, 2, 3], [1, 4, 3], [1, 2, 5, 3], [1, 6, 3], [1, 7, 8, 3], [1, 9, 3]]
    return [rlhf.Prompt(f"p{i}", rows[i % len(rows)], None) for i in range(n)]


def _pairs():
    return [rlhf.TokenizedPair([1, 2, 3], [4, 5, END], [6, END]),
            rlhf.TokenizedPair([1, 4, 3], [7, END], [8, 9, 9, END]),
            rlhf.TokenizedPair([1, 2, 5, 3], [4, END], [5, 5, END])]


def test_pair_batch_masks():
    ids, attention, response = rlhf.pair_batch([[1, 2], [3]], [[4, 5, 6], [7]], pad_id=PAD)
    assert ids.tolist() == [[1, 2, 4, 5, 6], [3, 7, PAD, PAD, PAD]]
    assert attention.tolist() == [[True] * 5, [True, True, False, False, False]]
    assert response.tolist() == [[False, False, True, True, True], [False, True, False, False, False]]


def test_masked_helpers():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[True, True, False]])
    assert float(rlhf.masked_mean(x, mask)) == 2.0
    white = rlhf.masked_whiten(x, mask)
    assert white[0, 2] == 0 and abs(float(white[0, :2].mean())) < 1e-6
    assert float(rlhf.masked_mean(x, torch.zeros_like(mask))) == 0.0


def test_rollout_alignment(tiny):
    ref = rlhf.frozen_copy(tiny)
    reward_model = rlhf.RewardModel(rlhf.frozen_copy(tiny))
    gen = torch.Generator().manual_seed(0)
    r = rlhf.rollout(tiny, ref, reward_model, _prompts(), max_new_tokens=5, end_id=END, pad_id=PAD, generator=gen)
    lengths = [len(x) for x in r.responses]
    assert r.mask.sum(dim=1).tolist() == lengths
    assert all(1 <= n <= 5 for n in lengths)
    # The policy is its own reference here: every per-token KL term is exactly 0.
    assert torch.equal(r.logprobs * r.mask, r.ref_logprobs * r.mask)
    # The log-prob at each response position is that of the token the response holds there.
    with torch.no_grad():
        full = tiny(r.ids)
    for b, prompt in enumerate(_prompts()):
        for t, token in enumerate(r.responses[b]):
            pos = len(prompt.ids) - 1 + t
            expected = torch.log_softmax(full[b, pos].float(), -1)[token]
            assert abs(float(r.logprobs[b, t]) - float(expected)) < 1e-5


def test_generate_responses_cut_after_end(tiny):
    responses = rlhf.generate_responses(tiny, [p.ids for p in _prompts()], max_new_tokens=6, end_id=END,
                                        generator=torch.Generator().manual_seed(1))
    for r in responses:
        assert 1 <= len(r) <= 6
        assert END not in r[:-1]


def test_reward_model_and_dpo_loops(tiny):
    reward_model = rlhf.RewardModel(rlhf.frozen_copy(tiny))
    for p in reward_model.parameters():
        p.requires_grad_(True)
    history = rlhf.train_reward_model(reward_model, _pairs(), rlhf.RewardModelConfig(steps=15, batch_size=3, lr=3e-3),
                                      PAD)
    assert history[-1]["loss"] < history[0]["loss"]
    accuracy, chosen, rejected = rlhf.reward_accuracy(reward_model, _pairs(), PAD)
    assert accuracy == 1.0 and chosen.shape == (3,)

    ref = rlhf.frozen_copy(tiny)
    policy = rlhf.frozen_copy(tiny)
    for p in policy.parameters():
        p.requires_grad_(True)
    dpo = rlhf.dpo_train(policy, ref, _pairs(), rlhf.DPOConfig(steps=10, batch_size=3, beta=0.5, lr=3e-3), pad_id=PAD)
    assert abs(dpo[0]["loss"] - math.log(2)) < 1e-5          # the policy starts as the reference
    assert dpo[-1]["loss"] < dpo[0]["loss"]


def test_ppo_and_grpo_loops(tiny):
    ref = rlhf.frozen_copy(tiny)
    reward_model = rlhf.RewardModel(rlhf.frozen_copy(tiny))
    policy = rlhf.PolicyWithValue(rlhf.frozen_copy(tiny))
    for p in policy.parameters():
        p.requires_grad_(True)
    config = rlhf.PPOConfig(steps=3, batch_size=6, minibatch_size=3, max_new_tokens=4, kl_coef=0.1, lr=1e-3)
    history = rlhf.ppo_train(policy, ref, reward_model, _prompts(), config, end_id=END, pad_id=PAD,
                             judge=lambda batch, responses: {"n": len(responses)})
    assert len(history) == 3 and history[0]["n"] == 6
    assert abs(history[0]["kl"]) < 1e-5                        # first rollout: policy == reference
    assert all(math.isfinite(h["pg_loss"]) and math.isfinite(h["vf_loss"]) for h in history)

    grpo_policy = rlhf.frozen_copy(tiny)
    for p in grpo_policy.parameters():
        p.requires_grad_(True)
    history = rlhf.grpo_train(grpo_policy, ref, reward_model, _prompts(),
                              rlhf.GRPOConfig(steps=2, prompts_per_step=2, group_size=3, max_new_tokens=4), end_id=END,
                              pad_id=PAD)
    assert len(history) == 2 and all(math.isfinite(h["pg_loss"]) for h in history)


def test_evaluate_policy(tiny):
    ref = rlhf.frozen_copy(tiny)
    reward_model = rlhf.RewardModel(rlhf.frozen_copy(tiny))
    from course_lib.data import chat_prompt

    prompts = [rlhf.Prompt(chat_prompt("What colour is Mia's kite?"), [1, 2, 3], "red")] * 3
    result = rlhf.evaluate_policy(tiny, ref, reward_model, prompts, decode=lambda ids: " ".join(map(str, ids)),
                                  end_id=END, pad_id=PAD, max_new_tokens=4, samples=2)
    assert len(result["answers"]) == 6
    assert result["kl"] == 0.0 and 0.0 <= result["preferred_rate"] <= 1.0 and result["correct_rate"] == 0.0
