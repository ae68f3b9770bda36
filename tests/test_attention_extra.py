"""Notebook 04's reference module beyond its checks: the fast path (PyTorch's fused kernel) and the
learner's path give the same outputs and gradients, both equal nn.MultiheadAttention, the KV cache
gives the same outputs as a full causal pass, fully masked rows stay finite, dropout behaves, and
the plotting helpers of course_lib.plots draw and react.

These test the reference (solutions/course_lib/attention.py) whatever `--impl` says: they are about
the course's own plumbing, which later notebooks rely on."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from support import reference

A = reference("attention")


def _pair(d_model, n_heads, *, bias=True, dtype=torch.float32, seed=0, dropout=0.0):
    """A torch nn.MultiheadAttention with random weights and biases, and the reference loaded from it."""
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True, dtype=dtype)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, d_model ** -0.5)
    mine = A.load_from_torch(A.MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout).to(dtype), theirs)
    return mine, theirs


def _run(module, fast, *args, **kwargs):
    """Output and gradients (inputs and parameters) of one forward + backward."""
    module.use_fast_path = fast
    module.zero_grad(set_to_none=True)
    inputs = [a.detach().clone().requires_grad_(True) for a in args]
    out = module(*inputs, **kwargs)
    out.backward(torch.ones_like(out) + torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape) / out.numel())
    return out.detach(), [x.grad for x in inputs], {n: p.grad.clone() for n, p in module.named_parameters()}


def _assert_same(a, b, atol):
    out_a, inputs_a, params_a = a
    out_b, inputs_b, params_b = b
    torch.testing.assert_close(out_a, out_b, atol=atol, rtol=atol)
    for x, y in zip(inputs_a, inputs_b):
        torch.testing.assert_close(x, y, atol=atol, rtol=atol)
    assert params_a.keys() == params_b.keys()
    for name in params_a:
        torch.testing.assert_close(params_a[name], params_b[name], atol=atol, rtol=atol, msg=name)


CASES = [(dtype, sizes, kind, mask_kind) for (dtype, sizes), kind, mask_kind in itertools.product(
    [(torch.float32, (12, 3)), (torch.float64, (15, 5)), (torch.float32, (8, 1)), (torch.float64, (20, 4))],
    ["self", "cross"],                          # d_head 4, 3 (odd), 8 (one head), 5 (odd)
    ["none", "causal", "bool", "additive", "key_mask", "key_mask+causal"],
)]


@pytest.mark.parametrize("dtype,sizes,kind,mask_kind", CASES,
                         ids=[f"{str(d)[6:]}-{s[0]}x{s[1]}-{k}-{m}" for d, s, k, m in CASES])
def test_fast_path_equals_learner_path(dtype, sizes, kind, mask_kind):
    d_model, n_heads = sizes
    mha, _ = _pair(d_model, n_heads, dtype=dtype, seed=sum(sizes))
    generator = torch.Generator().manual_seed(7)
    batch, n_q = 3, 5
    n_k = 7 if kind == "cross" else n_q
    if mask_kind.endswith("causal") and kind == "cross":
        n_k = n_q + 2                                        # a causal mask aligned bottom-right
    query = torch.randn(batch, n_q, d_model, generator=generator, dtype=dtype)
    key = torch.randn(batch, n_k, d_model, generator=generator, dtype=dtype)
    value = torch.randn(batch, n_k, d_model, generator=generator, dtype=dtype)
    kwargs = {}
    if mask_kind in ("causal", "key_mask+causal"):
        kwargs["is_causal"] = True
    if mask_kind == "bool":
        mask = torch.rand(n_q, n_k, generator=generator) > 0.5
        mask[1] = False                                      # a fully masked query
        kwargs["mask"] = mask
    if mask_kind == "additive":
        allowed = torch.rand(batch, 1, n_q, n_k, generator=generator) > 0.3
        kwargs["mask"] = torch.where(allowed, torch.randn(batch, 1, n_q, n_k, generator=generator, dtype=dtype),
                                     torch.tensor(float("-inf"), dtype=dtype))
    if mask_kind.startswith("key_mask"):
        kwargs["key_mask"] = A.padding_mask([n_k, 2, 1][:batch], n_k)
    args = (query,) if kind == "self" else (query, key, value)
    fast = _run(mha, True, *args, **kwargs)
    slow = _run(mha, False, *args, **kwargs)
    atol = 1e-5 if dtype == torch.float32 else 1e-11
    _assert_same(fast, slow, atol)
    assert torch.isfinite(fast[0]).all() and all(torch.isfinite(g).all() for g in fast[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fast", [True, False])
def test_equals_nn_multihead_attention(dtype, fast):
    mha, theirs = _pair(18, 3, dtype=dtype, seed=3)         # d_head = 6
    generator = torch.Generator().manual_seed(3)
    query = torch.randn(1, 5, 18, generator=generator, dtype=dtype)
    memory = torch.randn(1, 9, 18, generator=generator, dtype=dtype)
    pad = A.padding_mask([6], 9)
    expected, expected_weights = theirs(query, memory, memory, key_padding_mask=~pad, average_attn_weights=False)
    mha.use_fast_path = fast
    out = mha(query, memory, key_mask=pad)
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out, expected, atol=atol, rtol=atol)
    out, weights = mha(query, memory, key_mask=pad, return_weights=True)
    torch.testing.assert_close(weights, expected_weights, atol=atol, rtol=atol)
    causal = ~torch.ones(5, 5, dtype=torch.bool).tril()
    expected = theirs(query, query, query, attn_mask=causal, need_weights=False)[0]
    torch.testing.assert_close(mha(query, is_causal=True), expected, atol=atol, rtol=atol)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunks", [[6], [1, 1, 1, 1, 1, 1], [3, 1, 2], [4, 2]])
def test_kv_cache_gives_the_full_causal_outputs(fast, chunks):
    mha, _ = _pair(16, 4, seed=5)
    mha.use_fast_path = fast
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(5))
    full = mha(x, is_causal=True)
    cache, outs, start = {}, [], 0
    for size in chunks:
        outs.append(mha(x[:, start:start + size], is_causal=True, kv_cache=cache))
        start += size
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache["k"].shape == cache["v"].shape == (2, 4, 6, 4)


def test_kv_cache_with_key_mask_and_cross_attention():
    mha, _ = _pair(16, 4, seed=6)
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(2, 5, 16, generator=generator)
    pad = A.padding_mask([5, 3], 5)
    full = mha(x, is_causal=True, key_mask=pad)
    cache = {}
    first = mha(x[:, :3], is_causal=True, key_mask=pad[:, :3], kv_cache=cache)
    rest = mha(x[:, 3:], is_causal=True, key_mask=pad, kv_cache=cache)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)

    memory = torch.randn(2, 7, 16, generator=generator)
    expected = mha(x, memory)
    cross = {}
    out1 = mha(x[:, :2], memory, kv_cache=cross)
    out2 = mha(x[:, 2:], memory, kv_cache=cross)              # the stored keys/values are reused
    torch.testing.assert_close(torch.cat([out1, out2], 1), expected, atol=1e-5, rtol=1e-5)
    assert cross["k"].shape == (2, 4, 7, 4)


@pytest.mark.parametrize("fast", [True, False])
def test_fully_masked_queries_give_zeros_and_finite_gradients(fast):
    mha, _ = _pair(8, 2, seed=8)
    mha.use_fast_path = fast
    x = torch.randn(2, 4, 8, requires_grad=True)
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[2] = False
    out = mha(x, mask=mask)
    attention_only = out - mha.out_proj.bias                  # out_proj(0) = bias for the masked query
    assert torch.allclose(attention_only[:, 2], torch.zeros(2, 8), atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    q = torch.randn(3, 5, requires_grad=True)
    out, weights = A.scaled_dot_product_attention(q, q, q, torch.zeros(3, 3, dtype=torch.bool), return_weights=True)
    assert torch.equal(out, torch.zeros(3, 5)) and torch.equal(weights, torch.zeros(3, 3))


def test_dropout_only_in_training():
    mha, _ = _pair(16, 4, seed=9, dropout=0.5)
    x = torch.randn(2, 6, 16)
    mha.eval()
    for fast in (True, False):
        mha.use_fast_path = fast
        assert torch.allclose(mha(x), mha(x))
    mha.train()
    for fast in (True, False):
        mha.use_fast_path = fast
        torch.manual_seed(0)
        a = mha(x)
        torch.manual_seed(1)
        b = mha(x)
        assert not torch.allclose(a, b)


def test_argument_errors():
    with pytest.raises(ValueError):
        A.MultiHeadAttention(10, 3)
    mha = A.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="mask"):
        mha(torch.randn(2, 3, 8), mask=torch.ones(2, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="key_mask"):
        mha(torch.randn(2, 3, 8), key_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError):
        A.load_from_torch(mha, nn.MultiheadAttention(8, 4, batch_first=True))
    with pytest.raises(ValueError):
        A.load_from_torch(mha, nn.MultiheadAttention(8, 2, bias=False, batch_first=True))
    with pytest.raises(ValueError):
        A.padding_mask([3, 5], max_len=4)
    with pytest.raises(TypeError):
        A.softmax(torch.tensor([1, 2, 3]))


def test_contract_names():
    """The names notebooks 05-09 rely on."""
    mha = A.MultiHeadAttention(8, 2)
    assert mha.use_fast_path is True
    assert [n for n, _ in mha.named_children()] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    assert A.causal_mask(2, 3).dtype == torch.bool and A.padding_mask([1, 2]).shape == (2, 2)


def test_on_the_test_device():
    """Both paths on the device under test (`pytest --device cuda`); trivially CPU otherwise."""
    from course_lib.device import get_device

    device = get_device()
    mha, _ = _pair(16, 4, seed=10)
    mha.to(device)
    x = torch.randn(2, 5, 16, device=device)
    pad = A.padding_mask(torch.tensor([5, 2], device=device))
    fast = mha(x, key_mask=pad, is_causal=True)
    mha.use_fast_path = False
    slow = mha(x, key_mask=pad, is_causal=True)
    assert fast.device.type == device.type
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_plots_draw_and_the_explorer_reacts():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    from course_lib.plots import attention_explorer, attention_heatmap, plot_heads

    tokens = "the cat sat on the mat".split()
    weights = torch.softmax(torch.randn(2, 3, 6, 6), dim=-1)
    fig, ax = plt.subplots()
    image = attention_heatmap(ax, weights[0, 0], tokens, tokens, "a title")
    assert image.get_array().shape == (6, 6) and ax.get_title() == "a title"
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    with pytest.raises(ValueError):
        attention_heatmap(ax, weights[0], tokens, tokens)
    plt.close(fig)
    fig = plot_heads(weights[1], tokens)
    assert len([a for a in fig.axes if a.images]) == 3
    plt.close(fig)

    calls = []

    def get_weights(sentence):
        calls.append(sentence)
        return sentence.split(), torch.softmax(torch.randn(2, 3, len(sentence.split()), len(sentence.split())), -1)

    box = attention_explorer(get_weights, ["the cat sat on the mat", "a dog ran"], n_layers=2, n_heads=3)
    menu, (layer, head, all_heads), output = box.children[0], box.children[1].children, box.children[2]
    layer.value = 1
    head.value = 2
    all_heads.value = True
    menu.value = "a dog ran"
    assert calls == ["the cat sat on the mat", "a dog ran"]      # one call per sentence (cached)
    assert head.disabled                                         # "all heads" hides the head slider's effect
    plt.close("all")
