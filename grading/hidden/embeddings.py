"""Hidden checks for notebook 02 (embeddings): randomised inputs with fresh seeds and edge cases.

Instructor side only. Self-contained on purpose: the grader's sandbox hides solutions/, so the
oracles here are PyTorch's own functions and brute force. Every message names the seed, so a
failure can be replayed.

``ORACLES`` maps exercise names to correct versions with the signatures of
``course_lib.embeddings``; the public check of ``nearest_neighbours`` holds ``cosine_similarity``
fixed with it (``framework.hold_fixed``), and so does the hidden one, so one bug costs once.
What needs the learner's real objects (backward passes, an optimiser step) goes through the
public probes of ``course_lib.checks.embeddings``.

The written-out oracles (the SGNS loss term by term, brute-force pairs and neighbour search) live
here only: the public checks ship to students, so they compare with literal values instead.
"""

from __future__ import annotations

import random
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.embeddings import forward_backward, module_facts, sgd_step_then_forward, value_and_grads
from course_lib.checks.framework import (
    CheckFailed,
    Handle,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    expect_type,
    hidden_check,
    hold_fixed,
)
from course_lib.device import get_device

ROUNDS = 5


def _oracle_cosine(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """All-pairs cosine similarity from PyTorch's row-by-row one."""
    return F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1, eps=eps)


# Correct versions of exercises, by name: framework.oracles("embeddings") returns this dict.
ORACLES = {"cosine_similarity": _oracle_cosine}


def _sgns_formula(c: torch.Tensor, o: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The SGNS loss written out term by term, with -log sigmoid(x) = max(-x, 0) + log(1 + e^-|x|)."""
    def neg_log_sigmoid(x):
        return torch.clamp(-x, min=0) + torch.log1p(torch.exp(-x.abs()))

    positive = (c * o).sum(-1)
    negative = torch.einsum("bkd,bd->bk", n, c)
    return (neg_log_sigmoid(positive) + neg_log_sigmoid(-negative).sum(-1)).mean()


def _brute_pairs(ids: list[int], window: int) -> list[tuple[int, int]]:
    """Every (ids[i], ids[j]) with 0 < |i - j| <= window, by a double loop, sorted."""
    return sorted((ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
                  if i != j and abs(i - j) <= window)


def _pairs_difference(rows: list[tuple[int, int]], expected: list[tuple[int, int]]) -> str:
    """'5 pairs instead of 6; missing e.g. [...]; unexpected e.g. [...]' (multisets)."""
    got_counts, expected_counts = Counter(rows), Counter(expected)
    missing = sorted((expected_counts - got_counts).elements())[:4]
    extra = sorted((got_counts - expected_counts).elements())[:4]
    detail = []
    if len(rows) != len(expected):
        detail.append(f"{len(rows)} pairs instead of {len(expected)}")
    if missing:
        detail.append(f"missing e.g. {missing}")
    if extra:
        detail.append(f"unexpected e.g. {extra}")
    return "; ".join(detail)


def _seed() -> int:
    return random.SystemRandom().randrange(2**31)


def _raises(call, error: type[BaseException], what: str) -> None:
    expect_raises(call, error, what)


def _raises_index_error(call, what: str) -> None:
    """IndexError (documented) or ValueError."""
    try:
        expect_raises(call, ValueError, what)
    except CheckFailed:
        expect_raises(call, IndexError, what)


def _tensor(value, what: str) -> torch.Tensor:
    expect_type(value, torch.Tensor, what)
    return value


# ---------------------------------------------------------------------------------------------

@hidden_check("embeddings.one_hot", timeout=20)
def hidden_one_hot(impl: Handle) -> None:
    """Random shapes and vocabularies, int32 and non-contiguous ids, empty input, boundary ids."""
    device = get_device()
    seed = _seed()
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    for _ in range(ROUNDS):
        vocab = rng.randint(1, 40)
        shape = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
        ids = torch.randint(0, vocab, shape, generator=g).to(device)
        what = f"one_hot(ids of shape {shape}, {vocab}) [seed {seed}]"
        got = _tensor(impl.one_hot(ids, vocab), what)
        expect(got.dtype == torch.float32, f"{what} has dtype {got.dtype}, expected torch.float32")
        expect_close(got, F.one_hot(ids, vocab).float(), what)
    ids = torch.tensor([[0, 3], [2, 1]], dtype=torch.int32, device=device)
    expect_close(_tensor(impl.one_hot(ids, 4), "one_hot(int32 ids, 4)"), F.one_hot(ids.long(), 4).float(),
                 "one_hot(int32 ids, 4)")
    transposed = torch.tensor([[0, 1, 2], [3, 4, 5]], device=device).T  # not contiguous
    expect_close(_tensor(impl.one_hot(transposed, 6), "one_hot(transposed ids, 6)"),
                 F.one_hot(transposed, 6).float(), "one_hot(a transposed (non-contiguous) tensor of ids, 6)")
    empty = _tensor(impl.one_hot(torch.zeros(0, dtype=torch.long, device=device), 5), "one_hot(empty ids, 5)")
    expect_equal(tuple(empty.shape), (0, 5), "one_hot(empty ids, 5).shape")
    expect_close(_tensor(impl.one_hot(torch.tensor([0], device=device), 1), "one_hot([0], 1)"),
                 torch.ones(1, 1), "one_hot(torch.tensor([0]), 1)")
    scalar = _tensor(impl.one_hot(torch.tensor(2, device=device), 3), "one_hot(torch.tensor(2), 3)")
    expect_close(scalar, torch.tensor([0.0, 0.0, 1.0]), "one_hot(a 0-d tensor 2, 3)")
    # Bad ids only on the CPU: on a GPU an unchecked index can trigger a device-side assert.
    _raises(lambda: impl.one_hot(torch.tensor([[0, 1], [1, 9]]), 9), ValueError, "one_hot(ids containing 9, 9)")
    _raises(lambda: impl.one_hot(torch.tensor([-3]), 9), ValueError, "one_hot([-3], 9)")


@hidden_check("embeddings.embedding", timeout=20)
def hidden_embedding(impl: Handle) -> None:
    """Random tables and id shapes (0-d too), float64, gradients, and forward after an optimiser step."""
    device = get_device()
    seed = _seed()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    for _ in range(ROUNDS):
        vocab, dim = rng.randint(1, 30), rng.randint(1, 9)
        shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(0, 3)))
        layer, reference = impl.Embedding(vocab, dim), nn.Embedding(vocab, dim)
        facts = module_facts(layer)
        expect(facts["weight_is_parameter"], f"Embedding({vocab}, {dim}).weight must be an nn.Parameter")
        expect_equal(facts["weight_shape"], (vocab, dim), f"Embedding({vocab}, {dim}).weight.shape")
        layer, reference = layer.to(device), reference.to(device)
        ids = torch.randint(0, vocab, shape).to(device)
        upstream = torch.randn(*shape, dim).to(device)
        what = f"Embedding({vocab}, {dim})(ids of shape {shape}) [seed {seed}]"
        report = forward_backward(layer, ids, upstream, weight=reference.weight.detach())
        got = _tensor(report["out"], what)
        expected = reference(ids)
        expect_close(got, expected.detach(), what)
        expect(report["requires_grad"], f"{what} does not require grad: compute it from self.weight")
        (expected * upstream).sum().backward()
        expect(report["weight_grad"] is not None, f"{what}: weight.grad is None after backward()")
        expect_close(report["weight_grad"], reference.weight.grad, f"weight.grad after backward() through {what}")

    # float64 tables keep their dtype, int32 ids work.
    layer = impl.Embedding(5, 3, dtype=torch.float64).to(device)
    ids = torch.tensor([4, 0, 4], dtype=torch.int32, device=device)
    got = _tensor(layer(ids), "Embedding(5, 3, dtype=float64)(int32 ids)")
    expect(got.dtype == torch.float64, f"Embedding(5, 3, dtype=float64) returned {got.dtype}: use self.weight's rows")
    expect_close(got, layer.weight.detach()[ids.long()], "Embedding(5, 3, dtype=float64)(int32 ids)")

    # The forward must read the *current* weight: after an optimiser step the output changes.
    layer, reference = impl.Embedding(6, 4), nn.Embedding(6, 4)
    layer, reference = layer.to(device), reference.to(device)
    ids = torch.tensor([[1, 2], [2, 5]], device=device)
    forward_backward(layer, ids, weight=reference.weight.detach())  # same starting weights
    got = _tensor(sgd_step_then_forward(layer, ids, 0.5), "Embedding(6, 4)(ids) after one SGD step")
    reference(ids).pow(2).sum().backward()
    with torch.no_grad():
        reference.weight -= 0.5 * reference.weight.grad
    expect_close(got, reference(ids).detach(), "Embedding(6, 4)(ids) after one SGD step (use self.weight, not a copy)")
    layer = layer.cpu()  # bad ids only on the CPU
    _raises_index_error(lambda: layer(torch.tensor([[0, 6]])), "Embedding(6, 4)(ids with 6)")
    _raises_index_error(lambda: layer(torch.tensor([-6])), "Embedding(6, 4)([-6])")


@hidden_check("embeddings.cosine_similarity", timeout=20)
def hidden_cosine_similarity(impl: Handle) -> None:
    """Random shapes and scales, zero rows on both sides, single rows, scale invariance."""
    device = get_device()
    seed = _seed()
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    for _ in range(ROUNDS):
        n, m, d = rng.randint(1, 7), rng.randint(1, 7), rng.randint(1, 12)
        a = torch.randn(n, d, generator=g) * torch.rand(n, 1, generator=g).mul(50).add(0.01)
        b = torch.randn(m, d, generator=g) * torch.rand(m, 1, generator=g).mul(50).add(0.01)
        if rng.random() < 0.5:
            a[rng.randrange(n)] = 0
        if rng.random() < 0.5:
            b[rng.randrange(m)] = 0
        a, b = a.to(device), b.to(device)
        what = f"cosine_similarity(a {tuple(a.shape)}, b {tuple(b.shape)}) [seed {seed}]"
        got = _tensor(impl.cosine_similarity(a, b), what)
        expected = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
        expect_close(got, expected, what, atol=1e-5, rtol=1e-4)
        scaled = _tensor(impl.cosine_similarity(3.5 * a, 0.25 * b), f"{what} with a*3.5, b*0.25")
        expect_close(scaled, expected, f"{what} with a scaled by 3.5 and b by 0.25 (cosine ignores length)",
                     atol=1e-5, rtol=1e-4)
    opposite = torch.tensor([[1.0, 2.0, -2.0]], device=device)
    got = _tensor(impl.cosine_similarity(opposite, -2 * opposite), "cosine_similarity(x, -2x)")
    expect_close(got, torch.tensor([[-1.0]]), "cosine_similarity(x, -2x) (opposite directions)")


@hidden_check("embeddings.nearest_neighbours", timeout=20)
def hidden_nearest_neighbours(impl: Handle) -> None:
    """Random tables, queries and k (also k > V), duplicate rows, out-of-range queries."""
    device = get_device()
    seed = _seed()
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    # One bug, one loss: cosine_similarity is held fixed to the oracle here.
    with hold_fixed("embeddings", impl, "cosine_similarity"):
        for round_ in range(ROUNDS):
            vocab, dim = rng.randint(2, 40), rng.randint(2, 8)
            table = torch.randn(vocab, dim, generator=g) * torch.rand(vocab, 1, generator=g).mul(5).add(0.1)
            query = rng.randrange(vocab)
            if round_ == 0:  # an exact copy of the query elsewhere: it is the top neighbour
                other = (query + 1) % vocab
                table[other] = table[query] * 2
            k = rng.randint(1, vocab + 3)
            exclude = rng.random() < 0.7 or round_ == 0
            weight = table.to(device).requires_grad_(True)  # a table is a Parameter: it requires grad
            what = f"nearest_neighbours(weight {tuple(table.shape)}, {query}, k={k}, exclude_self={exclude}) [seed {seed}]"
            answer = impl.nearest_neighbours(weight, query, k, exclude_self=exclude)
            expect(isinstance(answer, (tuple, list)) and len(answer) == 2, f"{what} did not return (indices, scores)")
            indices, scores = (_tensor(t, what) for t in answer)
            sims = F.cosine_similarity(table[query].double().unsqueeze(0), table.double(), dim=-1)
            candidates = [j for j in range(vocab) if not (exclude and j == query)]
            expected_k = min(k, len(candidates))
            expect_equal(tuple(indices.shape), (expected_k,), f"{what}[0].shape")
            got = [int(i) for i in indices.cpu()]
            expect(not (exclude and query in got), f"{what} contains the query itself")
            expect(len(set(got)) == len(got), f"{what} repeats a row: {got}")
            best = sims[candidates].sort(descending=True).values[:expected_k]
            expect_close(sims[got], best, f"{what} (similarities of the chosen rows, best first)", atol=1e-5)
            expect_close(scores.detach().cpu().double(), sims[got], f"{what}[1] (scores)", atol=1e-5, rtol=1e-4)
            if round_ == 0:
                expect_equal(got[0], other, f"{what}[0][0] (row {other} is 2 × the query: cosine 1)")
        weight = torch.randn(4, 3, generator=g)  # bad queries only on the CPU
        _raises_index_error(lambda: impl.nearest_neighbours(weight, 4, 2), "nearest_neighbours(4-row table, 4, 2)")
        _raises_index_error(lambda: impl.nearest_neighbours(weight, -1, 2), "nearest_neighbours(table, -1, 2)")


@hidden_check("embeddings.skipgram_pairs", timeout=20)
def hidden_skipgram_pairs(impl: Handle) -> None:
    """Random streams and windows against a brute-force double loop; empty and short streams."""
    seed = _seed()
    rng = random.Random(seed)
    cases = [([], 1), ([3], 3), ([1, 1], 1), ([9, 8], 5)]
    cases += [([rng.randrange(1000) for _ in range(rng.randint(0, 30))], rng.randint(1, 6)) for _ in range(ROUNDS)]
    for number, (ids, window) in enumerate(cases):
        as_tensor = number % 2 == 1
        arg = torch.tensor(ids, dtype=torch.long) if as_tensor else ids
        what = f"skipgram_pairs({'tensor' if as_tensor else 'list'} of {len(ids)} ids, window={window}) [seed {seed}]"
        got = _tensor(impl.skipgram_pairs(arg, window), what)
        expected = _brute_pairs(ids, window)
        expect(got.dim() == 2 and got.shape[1] == 2 or (not expected and got.numel() == 0),
               f"{what} has shape {tuple(got.shape)}, expected ({len(expected)}, 2)")
        expect(not got.dtype.is_floating_point, f"{what} has dtype {got.dtype}, expected torch.long")
        rows = sorted(tuple(int(v) for v in row) for row in got.reshape(-1, 2).cpu().tolist())
        expect(rows == expected,
               f"{what} gave the wrong pairs ({_pairs_difference(rows, expected)}). Each token is a center "
               "once for every token at distance 1..window on BOTH sides, never for itself")
    _raises(lambda: impl.skipgram_pairs([1, 2], -1), ValueError, "skipgram_pairs([1, 2], window=-1)")


@hidden_check("embeddings.sgns_loss", timeout=20)
def hidden_sgns_loss(impl: Handle) -> None:
    """Random batch/negatives/dimension against the formula (value, gradients), float64, huge scores."""
    device = get_device()
    seed = _seed()
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)

    cases = []
    for _ in range(ROUNDS):
        b, k, d = rng.randint(1, 8), rng.randint(1, 6), rng.randint(1, 10)
        scale = rng.choice([0.1, 1.0, 3.0])
        cases.append((torch.randn(b, d, generator=g) * scale, torch.randn(b, d, generator=g) * scale,
                      torch.randn(b, k, d, generator=g) * scale, torch.float32))
    cases.append((torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g), torch.randn(3, 2, 4, generator=g),
                  torch.float64))
    cases.append((torch.full((1, 3), 30.0), torch.full((1, 3), 30.0), torch.full((1, 2, 3), -30.0), torch.float32))
    cases.append((torch.full((2, 3), -30.0), torch.full((2, 3), 30.0), torch.full((2, 2, 3), -30.0), torch.float32))
    for c, o, n, dtype in cases:
        inputs = [t.to(device, dtype) for t in (c, o, n)]
        what = f"sgns_loss(center {tuple(c.shape)}, context {tuple(o.shape)}, negatives {tuple(n.shape)}, {dtype}) [seed {seed}]"
        report = value_and_grads(impl.sgns_loss, *inputs)
        got = _tensor(report["value"], what)
        expect(got.dim() == 0, f"{what} has shape {tuple(got.shape)}, expected a scalar")
        expect(bool(torch.isfinite(got.detach().cpu())),
               f"{what} is not finite: {got.item()} (use F.logsigmoid(x), not torch.log(torch.sigmoid(x)))")
        oracle = [t.detach().double().requires_grad_(True) for t in (c, o, n)]
        expected = _sgns_formula(*oracle)
        expect_close(got.detach().cpu().double(), expected.detach(),
                     f"{what} (expected mean over pairs of -log σ(c·o) - Σ_k log σ(-c·n_k))", atol=1e-4, rtol=1e-4)
        expect(report["requires_grad"], f"{what} does not require grad: compute it with torch operations")
        expected.backward()
        for name, mine, theirs in zip(("center_vecs", "context_vecs", "negative_vecs"), report["grads"], oracle):
            expect(mine is not None, f"{what}: {name}.grad is None after backward()")
            expect_close(mine.cpu().double(), theirs.grad, f"d {what} / d {name}", atol=1e-4, rtol=1e-3)
