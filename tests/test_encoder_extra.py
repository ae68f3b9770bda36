"""The encoder's provided code (not exercises): load_from_torch, MiniBERT, the random helpers.

The exercises themselves are covered by the checks (tests/test_checks_can_fail.py); these tests
cover what the learner never writes but relies on, on the reference package.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from support import reference

enc = reference("encoder")


def _randomise(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * 0.3)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation,bias", [("relu", True), ("gelu", False)])
def test_load_from_torch_layer_module_and_state_dict(norm_first, activation, bias):
    theirs = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, activation=activation, batch_first=True,
                                        norm_first=norm_first, bias=bias).double()
    _randomise(theirs, 1)
    x = torch.randn(3, 6, 12, dtype=torch.float64)
    real = torch.arange(6)[None, :] < torch.tensor([[6], [4], [1]])
    expected = theirs(x, src_key_padding_mask=~real)
    for source in (theirs, theirs.state_dict()):
        ours = enc.EncoderLayer(12, 3, 20, norm_first=norm_first, activation=activation, bias=bias).double()
        assert enc.load_from_torch(ours, source) is ours
        assert torch.allclose(ours(x, real)[real], expected[real], atol=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
def test_load_from_torch_stack(norm_first):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first)
    theirs = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8) if norm_first else None,
                                   enable_nested_tensor=False).double()
    _randomise(theirs, 2)
    ours = enc.load_from_torch(enc.Encoder(3, 8, 2, 16, norm_first=norm_first).double(), theirs)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    real = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    assert torch.allclose(ours(x, real)[real], theirs(x, src_key_padding_mask=~real)[real], atol=1e-10)


def test_load_from_torch_refuses_wrong_things():
    with pytest.raises(TypeError):
        enc.load_from_torch(nn.Linear(2, 2), {})
    layer = enc.EncoderLayer(8, 2, 16)
    other = nn.TransformerEncoderLayer(8, 2, 32, batch_first=True)          # another d_ff
    with pytest.raises(ValueError, match="linear1"):
        enc.load_from_torch(layer, other)


def test_minibert_heads_and_attention_maps():
    torch.manual_seed(0)
    config = enc.BertConfig(vocab_size=30, max_len=16, d_model=16, n_heads=2, n_layers=2, dropout=0.0)
    model = enc.MiniBERT(config).eval()
    ids = torch.randint(3, 30, (2, 7))
    real = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    assert model(ids, real).shape == (2, 7, 16)
    assert model.mlm_logits(ids, real).shape == (2, 7, 30)
    assert model.classify(ids, real).shape == (2, 2)
    # Padding does not change the classification of the short sequence.
    alone = model.classify(ids[1:, :4])
    assert torch.allclose(alone, model.classify(ids, real)[1:], atol=1e-5)
    maps = model.attention_maps(ids, real)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 7, 7)
    assert torch.allclose(maps[0][1, :, :4].sum(-1), torch.ones(2, 4), atol=1e-5)
    assert float(maps[0][1, :, :, 4:].abs().max()) == 0.0                  # nobody attends to padding
    assert all(not layer.keep_attention for layer in model.encoder.layers)
    with pytest.raises(ValueError):
        model(torch.randint(0, 30, (1, 17)))                                 # longer than max_len


def test_random_helpers_use_the_generator_only():
    ids = torch.zeros(4, 5, dtype=torch.long)
    state = torch.random.get_rng_state()
    a = enc.uniform_like(ids, torch.Generator().manual_seed(3))
    b = enc.uniform_like(ids, torch.Generator().manual_seed(3))
    r = enc.random_tokens_like(ids, 7, torch.Generator().manual_seed(3))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b) and a.shape == ids.shape and a.dtype == torch.float32
    assert r.dtype == torch.int64 and int(r.min()) >= 0 and int(r.max()) < 7


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mlm_corrupt_cpu_generator_gpu_ids():
    ids = torch.randint(3, 100, (8, 32), device="cuda")
    corrupted, labels = enc.mlm_corrupt(ids, 2, 100, generator=torch.Generator().manual_seed(0))
    assert corrupted.device.type == "cuda" and labels.device.type == "cuda"
