"""What the checks of notebook 06 do not cover: the GPT's contract with notebooks 07-09 (names,
shapes, weight sharing), generation (cache or not, eos, past block_size, modes restored), the fast
paths, PyTorch equality through load_from_torch, the encoder-decoder, and the benchmark script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import decoder as D
from course_lib.attention import MultiHeadAttention

REPO = Path(__file__).resolve().parent.parent


def small_gpt(**sizes) -> D.GPT:
    base = dict(vocab_size=37, block_size=24, n_layer=2, n_head=2, d_model=16)
    base.update(sizes)
    torch.manual_seed(0)
    return D.GPT(D.GPTConfig(**base)).eval()


def test_config_defaults_follow_the_contract():
    config = D.GPTConfig(vocab_size=100)
    assert (config.block_size, config.n_layer, config.n_head, config.d_model) == (128, 4, 4, 128)
    assert config.d_ff == 4 * 128 and config.dropout == 0.0 and config.bias and config.tie_weights
    with pytest.raises(ValueError):
        D.GPTConfig(vocab_size=10, d_model=10, n_head=3)


def test_gpt_exposes_the_names_later_notebooks_use():
    model = small_gpt()
    assert isinstance(model.blocks, nn.ModuleList) and len(model.blocks) == 2
    for block in model.blocks:
        assert isinstance(block.attn, MultiHeadAttention)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            assert isinstance(getattr(block.attn, name), nn.Linear)
        assert hasattr(block, "mlp")
    assert model.lm_head.weight is model.tok_emb.weight
    assert model.lm_head.bias is None
    idx = torch.randint(0, 37, (3, 11))
    assert model(idx).shape == (3, 11, 37)
    assert model.features(idx).shape == (3, 11, 16)
    assert torch.allclose(model(idx), model.features(idx) @ model.tok_emb.weight.T, atol=1e-6)
    assert model.num_parameters() == model.num_parameters(non_embedding=True)
    assert model.num_parameters(False) - model.num_parameters() == 37 * 16 + 24 * 16


def test_untied_model_has_its_own_head():
    model = small_gpt(tie_weights=False)
    assert model.lm_head.weight is not model.tok_emb.weight
    assert model.num_parameters(False) - model.num_parameters() == 2 * 37 * 16 + 24 * 16


def test_a_few_training_steps_fit_a_tiny_text():
    torch.manual_seed(0)
    model = small_gpt().train()
    data = torch.randint(0, 37, (4, 25))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = F.cross_entropy(model(data[:, :-1]).reshape(-1, 37), data[:, 1:].reshape(-1))
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_the_causal_property_holds_for_the_whole_model():
    model = small_gpt(n_layer=3)
    idx = torch.randint(0, 37, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % 37
    assert torch.allclose(model(idx)[:, :7], model(changed)[:, :7], atol=1e-6)
    assert not torch.allclose(model(idx)[:, 7:], model(changed)[:, 7:], atol=1e-3)


@pytest.mark.parametrize("batch,prompt,new", [(1, 1, 20), (3, 5, 19), (2, 24, 0), (2, 10, 14)])
def test_greedy_generation_is_the_same_with_and_without_the_cache(batch, prompt, new):
    model = small_gpt()
    idx = torch.randint(0, 37, (batch, prompt))
    a = model.generate(idx, new, temperature=0.0, use_cache=True)
    b = model.generate(idx, new, temperature=0.0, use_cache=False)
    assert a.shape == (batch, prompt + new)
    assert torch.equal(a, b)
    assert torch.equal(a[:, :prompt], idx)


def test_sampling_with_a_seed_is_the_same_with_and_without_the_cache():
    model = small_gpt()
    idx = torch.randint(0, 37, (2, 3))
    runs = [model.generate(idx, 20, temperature=0.9, top_k=10, top_p=0.95, use_cache=cache,
                           generator=torch.Generator().manual_seed(5)) for cache in (True, False, True)]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])


def test_generation_past_block_size_restarts_the_cache():
    model = small_gpt(block_size=8)
    idx = torch.randint(0, 37, (2, 5))
    out = model.generate(idx, 30, temperature=0.0, use_cache=True)
    assert out.shape == (2, 35)
    out2 = model.generate(idx, 30, temperature=0.0, use_cache=False)
    assert out2.shape == (2, 35)
    # Up to block_size tokens in all, both agree.
    assert torch.equal(out[:, :8], out2[:, :8])


def test_eos_stops_rows_and_the_loop():
    model = small_gpt()
    idx = torch.randint(0, 37, (3, 4))
    greedy = model.generate(idx, 10, temperature=0.0)
    eos = int(greedy[0, 4])                           # row 0's first new token
    out = model.generate(idx, 10, temperature=0.0, eos_id=eos)
    assert out.shape[1] <= 14
    row = out[0, 4:].tolist()
    assert row[0] == eos and all(t == eos for t in row)
    for b in range(3):
        new = out[b, 4:].tolist()
        if eos in new:
            assert all(t == eos for t in new[new.index(eos):])


def test_generate_restores_the_mode_and_leaves_the_prompt_alone():
    model = small_gpt(dropout=0.1).train()
    idx = torch.randint(0, 37, (1, 3))
    before = idx.clone()
    model.generate(idx, 5)
    assert model.training and torch.equal(idx, before)
    model.eval()
    model.generate(idx, 5)
    assert not model.training


def test_the_fast_paths_give_the_same_result_as_the_learners_code():
    model = small_gpt()
    idx = torch.randint(0, 37, (2, 9))
    fast = model(idx)
    for module in model.modules():
        if hasattr(module, "use_fast_path"):
            module.use_fast_path = False
    assert torch.allclose(model(idx), fast, atol=1e-5)
    assert torch.equal(model.generate(idx, 6, temperature=0.0), model.generate(idx, 6, temperature=0.0, use_cache=False))


def test_a_wrapped_projection_still_works_with_the_cache():
    """Notebook 08's LoRA replaces q_proj/v_proj by modules that wrap them: the cache must not care."""

    class Wrapped(nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.extra = nn.Linear(base.in_features, base.out_features, bias=False)
            nn.init.normal_(self.extra.weight, std=0.05)

        def forward(self, x):
            return self.base(x) + self.extra(x)

    model = small_gpt()
    for block in model.blocks:
        block.attn.q_proj = Wrapped(block.attn.q_proj)
        block.attn.v_proj = Wrapped(block.attn.v_proj)
    idx = torch.randint(0, 37, (2, 4))
    assert torch.equal(model.generate(idx, 12, temperature=0.0), model.generate(idx, 12, temperature=0.0, use_cache=False))


def test_generated_ids_can_be_trained_on():
    """RLHF (09) generates, then backpropagates through the model on what was generated."""
    model = small_gpt().train()
    out = model.generate(torch.randint(0, 37, (2, 3)), 5)
    loss = F.cross_entropy(model(out[:, :-1]).reshape(-1, 37), out[:, 1:].reshape(-1))
    loss.backward()
    assert model.tok_emb.weight.grad is not None


def test_kv_cache_refuses_what_does_not_fit():
    cache = D.KVCache(4)
    k = torch.randn(1, 2, 3, 5)
    keys, values = cache.update(k, k)
    assert keys.shape == (1, 2, 3, 5) and cache.length == 3
    with pytest.raises(ValueError):
        cache.update(torch.randn(1, 2, 2, 5), torch.randn(1, 2, 2, 5))
    with pytest.raises(ValueError):
        cache.update(torch.randn(1, 3, 1, 5), torch.randn(1, 3, 1, 5))


def test_features_refuse_positions_past_the_block():
    model = small_gpt(block_size=6)
    with pytest.raises(ValueError):
        model(torch.zeros(1, 7, dtype=torch.long))
    cache = model.new_kv_cache()
    model.features(torch.zeros(1, 5, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError):
        model.features(torch.zeros(1, 2, dtype=torch.long), kv_cache=cache)


@pytest.mark.parametrize("norm_first", [False, True])
def test_load_from_torch_makes_the_decoder_layer_equal(norm_first):
    torch.manual_seed(1)
    theirs = nn.TransformerDecoderLayer(12, 3, 20, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = D.load_from_torch(D.DecoderLayer(12, 3, 20, norm_first=norm_first), theirs)
    x, memory = torch.randn(2, 5, 12), torch.randn(2, 6, 12)
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    assert torch.allclose(ours(x, memory), theirs(x, memory, tgt_mask=causal, tgt_is_causal=True), atol=1e-5)
    assert torch.allclose(ours(x, memory, causal=False), theirs(x, memory), atol=1e-5)


def test_load_from_torch_makes_the_block_equal():
    torch.manual_seed(2)
    config = D.GPTConfig(vocab_size=5, n_head=2, d_model=8, d_ff=16)
    theirs = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    ours = D.load_from_torch(D.Block(config), theirs)
    x = torch.randn(3, 6, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    assert torch.allclose(ours(x), theirs(x, src_mask=mask, is_causal=True), atol=1e-5)
    with pytest.raises(TypeError):
        D.load_from_torch(nn.Linear(2, 2), theirs)


def test_encoder_decoder_shapes_greedy_and_cross_attention_maps():
    torch.manual_seed(3)
    model = D.EncoderDecoder(20, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=16)
    src = torch.tensor([[5, 6, 7, 2, 0], [8, 9, 2, 0, 0]])
    tgt = torch.tensor([[1, 4, 5, 2], [1, 3, 2, 0]])
    assert model(src, tgt).shape == (2, 4, 20)
    out = model.greedy(src, bos_id=1, eos_id=2, max_len=6)
    assert out.shape[0] == 2 and out.shape[1] <= 7 and bool((out[:, 0] == 1).all())
    maps = model.cross_attention_maps(src, tgt)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 4, 5)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 2, 4), atol=1e-5)
    assert float(maps[0][1, :, :, 3:].abs().max()) == 0.0      # padded source positions get no attention


def test_sampling_functions_on_other_dtypes_and_shapes():
    logits = torch.randn(2, 3, 11, dtype=torch.float64)
    assert D.next_token_probs(logits).dtype == torch.float64
    assert D.next_token_probs(logits.to(torch.bfloat16)).dtype == torch.float32
    assert D.top_k_filter(logits, 4).isfinite().sum(-1).eq(4).all()
    assert D.sample_next_token(logits, temperature=0.0).shape == (2, 3)
    ids = D.sample_next_token(logits.float(), top_p=0.5, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (2, 3) and ids.dtype == torch.long


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_generation_on_cuda_with_a_cpu_generator():
    model = small_gpt().cuda()
    idx = torch.randint(0, 37, (2, 3), device="cuda")
    a = model.generate(idx, 10, temperature=0.8, generator=torch.Generator().manual_seed(1))
    b = model.generate(idx, 10, temperature=0.8, generator=torch.Generator().manual_seed(1), use_cache=False)
    assert a.device.type == "cuda" and torch.equal(a, b)


def test_the_benchmark_prints_its_table():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_kv_cache.py"), "--new-tokens", "12",
                             "--block-sizes", "recipe,auto", "--repeats", "1", "--recipe", "smoke"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "speed-up" in result.stdout and result.stdout.count("yes") == 2, result.stdout
