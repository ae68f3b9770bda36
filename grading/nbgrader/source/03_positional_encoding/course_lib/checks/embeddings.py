"""Public checks for notebook 02 (embeddings): ``check("embeddings.one_hot")`` and friends.

Each check compares your function with an independent oracle (PyTorch's own ``F.one_hot``,
``nn.Embedding``, ``F.cosine_similarity``, a brute-force search, the loss written out term by
term), on the device the course uses (`course_lib.device.get_device()`).
"""

from __future__ import annotations

from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from ..device import get_device
from .framework import CheckFailed, expect, expect_close, expect_equal, hold_fixed, oracles, public_check


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _expect_raises(call, errors: tuple[type[BaseException], ...], what: str, advice: str) -> None:
    """`call()` must raise one of `errors`; NotImplementedError passes through (a stub)."""
    wanted = " or ".join(e.__name__ for e in errors)
    wanted = ("an " if wanted[0] in "AEIOU" else "a ") + wanted
    try:
        call()
    except NotImplementedError:
        raise
    except errors:
        return
    except Exception as err:  # noqa: BLE001 - reported to the learner
        raise CheckFailed(f"{what} raised {type(err).__name__} ({err}), expected {wanted}: {advice}") from None
    raise CheckFailed(f"{what} returned normally, expected {wanted}: {advice}")


def _expect_tensor(value, what: str) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor), f"{what} returned a {type(value).__name__}, expected a torch.Tensor")
    return value


def _expect_device(value: torch.Tensor, device: torch.device, what: str) -> None:
    expect(value.device.type == device.type,
           f"{what} is on {value.device}, expected {device} (the device of its input): create new "
           "tensors with device=... of the input")


def _torch_cosine(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The oracle: PyTorch's row-by-row cosine similarity, broadcast to all (i, j) pairs."""
    return F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1, eps=eps)


def _sgns_formula(c: torch.Tensor, o: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The SGNS loss written out term by term, with -log sigmoid(x) = max(-x, 0) + log(1 + e^-|x|)."""
    def neg_log_sigmoid(x):
        return torch.clamp(-x, min=0) + torch.log1p(torch.exp(-x.abs()))

    positive = (c * o).sum(-1)
    negative = torch.einsum("bkd,bd->bk", n, c)
    return (neg_log_sigmoid(positive) + neg_log_sigmoid(-negative).sum(-1)).mean()


# ---------------------------------------------------------------------------------------------
# §1 one_hot
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.one_hot")
def check_one_hot(impl: ModuleType) -> None:
    """one_hot matches F.one_hot (as float32), keeps batch dimensions and rejects bad ids."""
    device = get_device()
    ids = torch.tensor([2, 0, 1], device=device)
    what = "one_hot(torch.tensor([2, 0, 1]), 4)"
    got = _expect_tensor(impl.one_hot(ids, 4), what)
    expect(got.dtype == torch.float32,
           f"{what} has dtype {got.dtype}, expected torch.float32: one-hot vectors are multiplied "
           "with float weights, so convert with .float() (F.one_hot returns int64)")
    expect_equal(tuple(got.shape), (3, 4), f"{what}.shape (one row of length vocab_size per id)")
    _expect_device(got, device, what)
    expect_close(got, F.one_hot(ids, 4).float(), what)

    batch = torch.tensor([[4, 1, 1], [0, 3, 2]], device=device)
    what = "one_hot(ids of shape (2, 3), 5)"
    got = _expect_tensor(impl.one_hot(batch, 5), what)
    expect_equal(tuple(got.shape), (2, 3, 5), f"{what}.shape (the new axis goes last)")
    expect_close(got, F.one_hot(batch, 5).float(), what)

    # Bad ids are tried on the CPU: on a GPU an unchecked out-of-range index can trigger a
    # device-side assert that breaks every later CUDA call of the process.
    _expect_raises(lambda: impl.one_hot(torch.tensor([0, 4]), 4), (ValueError,),
                   "one_hot(torch.tensor([0, 4]), 4)", "4 is not a valid id when vocab_size is 4 (ids are 0..3)")
    _expect_raises(lambda: impl.one_hot(torch.tensor([1, -1]), 4), (ValueError,),
                   "one_hot(torch.tensor([1, -1]), 4)", "negative ids are not valid; check ids.min() too")


# ---------------------------------------------------------------------------------------------
# §2 Embedding
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.embedding")
def check_embedding(impl: ModuleType) -> None:
    """Embedding gives nn.Embedding's outputs and weight gradients with the same weights."""
    device = get_device()
    torch.manual_seed(2)
    layer = impl.Embedding(7, 4)
    expect(isinstance(layer, nn.Module), f"Embedding(7, 4) is a {type(layer).__name__}, expected an nn.Module")
    weight = getattr(layer, "weight", None)
    expect(isinstance(weight, nn.Parameter),
           "Embedding(7, 4).weight must be an nn.Parameter (so that optimisers and .to(device) see it), "
           f"got {type(weight).__name__}")
    expect_equal(tuple(weight.shape), (7, 4), "Embedding(7, 4).weight.shape")

    reference = nn.Embedding(7, 4)
    with torch.no_grad():
        layer.weight.copy_(reference.weight)
    layer, reference = layer.to(device), reference.to(device)

    ids = torch.tensor([[1, 3, 3], [6, 0, 1]], device=device)  # repeated ids: gradients add up
    what = "Embedding(7, 4)(ids of shape (2, 3))"
    got = _expect_tensor(layer(ids), what)
    expected = reference(ids)
    expect_equal(tuple(got.shape), (2, 3, 4), f"{what}.shape (one row of weight per id)")
    _expect_device(got, device, what)
    expect_close(got, expected, f"{what}, compared with nn.Embedding with the same weight,")
    expect(got.requires_grad,
           f"{what} does not require grad: the output must be computed from self.weight (e.g. "
           "self.weight[ids]), not from a new tensor, .data or .detach(), or the table never learns")

    upstream = torch.randn(2, 3, 4, generator=_gen(0)).to(device)
    (got * upstream).sum().backward()
    (expected * upstream).sum().backward()
    expect(layer.weight.grad is not None,
           f"after backward() through {what}, weight.grad is None: the output is not connected to "
           "self.weight (avoid torch.tensor(...), .data, .detach() and .item() on the way)")
    expect_close(layer.weight.grad, reference.weight.grad,
                 f"weight.grad after backward() through {what} (rows 1 and 3 are used twice, so their "
                 "gradients must be summed), compared with nn.Embedding's,")

    layer = layer.cpu()  # bad ids on the CPU only (see check_one_hot)
    _expect_raises(lambda: layer(torch.tensor([0, 7])), (IndexError, ValueError),
                   "Embedding(7, 4)(torch.tensor([0, 7]))", "7 is not a row of a 7-row table (ids are 0..6)")
    _expect_raises(lambda: layer(torch.tensor([-1])), (IndexError, ValueError),
                   "Embedding(7, 4)(torch.tensor([-1]))",
                   "self.weight[-1] silently reads the last row, so check ids.min() >= 0 yourself")


# ---------------------------------------------------------------------------------------------
# §3 cosine_similarity
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.cosine_similarity")
def check_cosine_similarity(impl: ModuleType) -> None:
    """cosine_similarity matches F.cosine_similarity on all pairs, and is 0 for zero vectors."""
    device = get_device()
    g = _gen(3)
    a = torch.randn(3, 5, generator=g)
    b = torch.randn(4, 5, generator=g) * torch.tensor([[0.1], [1.0], [10.0], [100.0]])  # different lengths
    a, b = a.to(device), b.to(device)
    what = "cosine_similarity(a of shape (3, 5), b of shape (4, 5))"
    got = _expect_tensor(impl.cosine_similarity(a, b), what)
    expect_equal(tuple(got.shape), (3, 4), f"{what}.shape (out[i, j] compares a[i] with b[j])")
    _expect_device(got, device, what)
    expect_close(got, _torch_cosine(a, b), f"{what} (rows of b have lengths from 0.1 to 100; "
                 "both a and b must be normalised),", atol=1e-5, rtol=1e-4)

    what = "cosine_similarity(a, a)"
    diagonal = _expect_tensor(impl.cosine_similarity(a, a), what).diagonal()
    expect_close(diagonal, torch.ones(3), f"the diagonal of {what} (a vector is at angle 0 to itself)",
                 atol=1e-5, rtol=0)

    zero = torch.zeros(2, 5, device=device)
    what = "cosine_similarity(a, b) where b[0] is a zero vector"
    with_zero = torch.cat([zero[:1], b[:1]])
    got = _expect_tensor(impl.cosine_similarity(a, with_zero), what)
    expect(not bool(torch.isnan(got.detach().cpu()).any()),
           f"{what} contains NaN: a zero vector has norm 0, so clamp the norms with eps "
           "(norm.clamp_min(eps)) before dividing")
    expect_close(got, _torch_cosine(a, with_zero), f"{what} (expected 0 for the zero vector)",
                 atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# §4 nearest_neighbours
# ---------------------------------------------------------------------------------------------

def _check_neighbours_answer(impl, weight, query, k, exclude_self, what):
    """Compare (indices, scores) with a brute-force search, robust to exact ties."""
    answer = impl.nearest_neighbours(weight, query, k, exclude_self=exclude_self)
    expect(isinstance(answer, (tuple, list)) and len(answer) == 2,
           f"{what} returned {type(answer).__name__}, expected a pair (indices, scores)")
    indices, scores = answer
    _expect_tensor(indices, f"{what}[0] (indices)")
    _expect_tensor(scores, f"{what}[1] (scores)")
    expect(not indices.dtype.is_floating_point,
           f"{what}: indices have dtype {indices.dtype}, expected an integer tensor (torch.long)")

    table = weight.detach().cpu().double()
    sims = [float(F.cosine_similarity(table[query], table[j], dim=0)) for j in range(len(table))]
    candidates = [j for j in range(len(table)) if not (exclude_self and j == query)]
    ranked = sorted(candidates, key=lambda j: -sims[j])
    expected_k = min(k, len(candidates))
    got_indices = [int(i) for i in indices.detach().cpu().reshape(-1)]

    expect(tuple(indices.shape) == (expected_k,),
           f"{what} returned indices of shape {tuple(indices.shape)}, expected ({expected_k},)"
           + (f": there are only {len(candidates)} candidate rows, so return min(k, {len(candidates)})"
              if k > len(candidates) else ""))
    expect_equal(tuple(scores.shape), (expected_k,), f"the scores of {what} have a shape that")
    if exclude_self:
        expect(query not in got_indices,
               f"{what} returned the query row {query} itself among its neighbours {got_indices}: with "
               "exclude_self=True leave it out (set its score to -inf before torch.topk)")
    expect(len(set(got_indices)) == len(got_indices), f"{what} repeats a row: {got_indices}")
    expect(all(0 <= i < len(table) for i in got_indices), f"{what} returned rows outside the table: {got_indices}")
    got_sims = torch.tensor([sims[i] for i in got_indices], dtype=torch.float64)
    best = torch.tensor([sims[j] for j in ranked[:expected_k]], dtype=torch.float64)

    def rounded(values):
        return [round(float(v), 3) for v in values]

    chosen = got_sims.sort(descending=True).values
    if bool(((chosen - best).abs() > 1e-5).any()):
        raise CheckFailed(
            f"{what} returned rows {got_indices} (cosine similarities {rounded(got_sims)}), but the "
            f"{expected_k} most similar rows are {ranked[:expected_k]} ({rounded(best)}): rank the rows by "
            "the cosine similarity of each row with the query row (a plain dot product favours long vectors)")
    if expected_k > 1 and bool((got_sims[1:] > got_sims[:-1] + 1e-6).any()):
        raise CheckFailed(f"{what} returned the right rows in the wrong order, {got_indices} with similarities "
                          f"{rounded(got_sims)}: sort them from most to least similar (torch.topk does, "
                          "largest first)")
    expect_close(scores.detach().double().cpu(), got_sims,
                 f"the scores of {what} (they must be the cosine similarities of the returned rows)",
                 atol=1e-5, rtol=1e-4)
    return got_indices


@public_check("embeddings.nearest_neighbours")
def check_nearest_neighbours(impl: ModuleType) -> None:
    """nearest_neighbours agrees with a brute-force cosine search (sorted, query excluded, k clamped)."""
    device = get_device()
    g = _gen(4)
    # Rows of very different lengths: ranking by dot product instead of cosine gets them wrong.
    table = torch.randn(9, 3, generator=g) * torch.linspace(0.2, 5.0, 9).unsqueeze(1)
    weight = nn.Parameter(table.to(device))  # a real table is a Parameter that requires grad
    held = "cosine_similarity" in oracles("embeddings")
    try:
        with hold_fixed("embeddings", impl, "cosine_similarity"):
            _check_neighbours_answer(impl, weight, 2, 3, True, "nearest_neighbours(weight (9, 3), 2, k=3)")
            got = _check_neighbours_answer(impl, weight, 5, 4, False,
                                           "nearest_neighbours(weight (9, 3), 5, k=4, exclude_self=False)")
            expect_equal(got[0], 5, "nearest_neighbours(weight, 5, k=4, exclude_self=False)[0][0] (the query "
                                    "itself is the most similar row when it is not excluded)")
            _check_neighbours_answer(impl, weight, 0, 20, True,
                                     "nearest_neighbours(weight (9, 3), 0, k=20) (k larger than the table: "
                                     "return the 8 other rows)")
    except CheckFailed as err:
        if held:
            raise
        raise CheckFailed(f"{err} [nearest_neighbours uses your cosine_similarity: if "
                          'check("embeddings.cosine_similarity") does not pass yet, fix that first]') from None


# ---------------------------------------------------------------------------------------------
# §5 skipgram_pairs
# ---------------------------------------------------------------------------------------------

def _brute_pairs(ids: list[int], window: int) -> list[tuple[int, int]]:
    return sorted((ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
                  if i != j and abs(i - j) <= window)


def _check_pairs(impl, ids, window, what):
    got = _expect_tensor(impl.skipgram_pairs(ids, window), what)
    expect(not got.dtype.is_floating_point and got.dtype != torch.bool,
           f"{what} has dtype {got.dtype}, expected torch.long (they are token ids)")
    expected = _brute_pairs(list(ids), window)
    expect(got.dim() == 2 and got.shape[1] == 2,
           f"{what} has shape {tuple(got.shape)}, expected ({len(expected)}, 2): one row (center, context) per pair")
    rows = sorted(tuple(int(v) for v in row) for row in got.cpu().tolist())
    if rows != expected:
        missing = sorted(set(expected) - set(rows))[:4]
        extra = sorted(set(rows) - set(expected))[:4]
        detail = []
        if len(rows) != len(expected):
            detail.append(f"{len(rows)} pairs instead of {len(expected)}")
        if missing:
            detail.append(f"missing e.g. {missing}")
        if extra:
            detail.append(f"unexpected e.g. {extra}")
        raise CheckFailed(
            f"{what} gave the wrong pairs ({'; '.join(detail) or 'wrong multiplicities'}). Each token is a "
            "center once for every token at distance 1..window on BOTH sides, never for itself")


@public_check("embeddings.skipgram_pairs")
def check_skipgram_pairs(impl: ModuleType) -> None:
    """skipgram_pairs yields every (center, context) pair within the window, both directions."""
    _check_pairs(impl, [10, 11, 12, 13], 1, "skipgram_pairs([10, 11, 12, 13], window=1)")
    _check_pairs(impl, [5, 6, 7, 8, 9], 2, "skipgram_pairs([5, 6, 7, 8, 9], window=2)")
    _check_pairs(impl, torch.tensor([3, 1, 3, 2]), 2, "skipgram_pairs(torch.tensor([3, 1, 3, 2]), window=2)")
    _check_pairs(impl, [4, 5, 6], 10, "skipgram_pairs([4, 5, 6], window=10) (window longer than the text)")
    _check_pairs(impl, [7], 2, "skipgram_pairs([7], window=2) (a single token has no context: shape (0, 2))")
    _expect_raises(lambda: impl.skipgram_pairs([1, 2, 3], 0), (ValueError,),
                   "skipgram_pairs([1, 2, 3], window=0)", "a window must be at least 1")


# ---------------------------------------------------------------------------------------------
# §6 sgns_loss
# ---------------------------------------------------------------------------------------------

def _check_sgns(impl, c, o, n, what):
    leaves = [t.clone().requires_grad_(True) for t in (c, o, n)]
    got = _expect_tensor(impl.sgns_loss(*leaves), what)
    expect(got.dim() == 0,
           f"{what} has shape {tuple(got.shape)}, expected a scalar: average the per-pair losses with .mean()")
    expect(bool(torch.isfinite(got.detach().cpu())),
           f"{what} is {got.item()}: use F.logsigmoid(x) rather than torch.log(torch.sigmoid(x)), which "
           "underflows to log(0) = -inf for large scores")
    oracle_leaves = [t.detach().to("cpu", torch.float64).requires_grad_(True) for t in (c, o, n)]
    expected = _sgns_formula(*oracle_leaves)
    expect_close(got.detach().double().cpu(), expected.detach(),
                 f"{what} (expected mean over pairs of -log σ(c·o) - Σ_k log σ(-c·n_k))", atol=1e-4, rtol=1e-4)
    expect(got.requires_grad, f"{what} does not require grad: compute it with torch operations on the inputs")
    got.backward()
    expected.backward()
    for name, mine, theirs in zip(("center_vecs", "context_vecs", "negative_vecs"), leaves, oracle_leaves):
        expect(mine.grad is not None, f"after backward() on {what}, {name}.grad is None: the loss must depend on it")
        expect_close(mine.grad.double().cpu(), theirs.grad, f"the gradient of {what} with respect to {name}",
                     atol=1e-4, rtol=1e-3)


@public_check("embeddings.sgns_loss")
def check_sgns_loss(impl: ModuleType) -> None:
    """sgns_loss equals the negative-sampling formula (value and gradients) and stays finite."""
    device = get_device()
    g = _gen(6)
    c, o, n = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    _check_sgns(impl, c.to(device), o.to(device), n.to(device),
                "sgns_loss(center (4, 5), context (4, 5), negatives (4, 3, 5))")
    # Huge scores: a true pair scored -400 and a negative scored +400.
    c = torch.full((2, 4), 10.0)
    o = torch.full((2, 4), -10.0)
    n = torch.full((2, 1, 4), 10.0)
    _check_sgns(impl, c.to(device), o.to(device), n.to(device),
                "sgns_loss with scores of ±400 (a badly wrong pair)")
