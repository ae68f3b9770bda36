"""Public checks for notebook 02 (embeddings): ``check("embeddings.one_hot")`` and friends.

One check per exercise section, each run with ``check("embeddings.<name>")``:

    embeddings.one_hot             §1  ids -> one-hot float vectors
    embeddings.embedding           §2  Embedding, an nn.Module lookup table
    embeddings.cosine_similarity   §3  all-pairs cosine similarity
    embeddings.nearest_neighbours  §4  the k most similar rows of a table
    embeddings.skipgram_pairs      §5  (center, context) training pairs
    embeddings.sgns_loss           §6  the negative-sampling loss

The checks compare your functions with *literal* expected values for small fixed inputs (worked
out once with the course's reference and pasted here), with PyTorch's own ``nn.Embedding`` (its
outputs and gradients), and test properties every correct answer has: shapes, dtypes, devices,
the documented errors, cos(a, b) == cos(b, a)ᵀ, the loss goes down when a true pair lines up.
They run on the device the course uses (`course_lib.device.get_device()`).

One bug costs once: ``nearest_neighbours`` calls your ``cosine_similarity``; when this
assignment is graded it is replaced by a correct version while that check runs
(`framework.hold_fixed`). In your own copy of the course your own function is used, so fix
``cosine_similarity`` first.

Your code runs apart from the check (see `course_lib.checks.remote`): what your functions return
comes back as plain tensors and numbers, and what needs the real objects (an ``isinstance`` test,
a backward pass) is done by the *probes* below, which only run your code and report what
happened; the expected values stay in the checks.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from ..device import get_device
from .framework import (
    CheckFailed,
    Handle,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    expect_type,
    hold_fixed,
    oracles,
    probe,
    public_check,
)

# ---------------------------------------------------------------------------------------------
# Expected values
#
# Everything below was produced once by the course's reference (solutions/course_lib/
# embeddings.py), in float64, and pasted here (floats to 8 or 9 significant digits). To
# regenerate a value, run outside the repository (so that the reference, not your course_lib,
# is imported), e.g.
#   cd /tmp && PYTHONPATH=<course repo>/solutions python -c "import torch; \
#       from course_lib.embeddings import *; from course_lib.checks.embeddings import *; \
#       print(cosine_similarity(torch.tensor(COSINE_A).double(), torch.tensor(COSINE_B).double()))"
# and likewise nearest_neighbours(torch.tensor(NEIGHBOUR_TABLE).double(), query, k, exclude_self=...),
# sorted(map(tuple, skipgram_pairs(ids, window).tolist())), or sgns_loss(...) and the .grad of
# its three float64 inputs after .backward().
# ---------------------------------------------------------------------------------------------

# §1 one_hot([2, 0, 1], 4) and one_hot([[4, 1, 1], [0, 3, 2]], 5).
ONE_HOT_IDS = [2, 0, 1]
ONE_HOT_EXPECTED = [[0.0, 0.0, 1.0, 0.0],
                    [1.0, 0.0, 0.0, 0.0],
                    [0.0, 1.0, 0.0, 0.0]]
ONE_HOT_BATCH = [[4, 1, 1], [0, 3, 2]]
ONE_HOT_BATCH_EXPECTED = [[[0.0, 0.0, 0.0, 0.0, 1.0],
                           [0.0, 1.0, 0.0, 0.0, 0.0],
                           [0.0, 1.0, 0.0, 0.0, 0.0]],
                          [[1.0, 0.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0, 0.0],
                           [0.0, 0.0, 1.0, 0.0, 0.0]]]

# §3 Rows of COSINE_B have lengths 0.1, 2, 10 and about 94: forgetting to normalise one side
# shows. COSINE_EXPECTED[i][j] is the cosine similarity of COSINE_A[i] and COSINE_B[j].
COSINE_A = [[1.0, 2.0, 0.0, -1.0],
            [0.0, 3.0, 4.0, 0.0],
            [-2.0, 1.0, 1.0, 0.5]]
COSINE_B = [[0.06, -0.08, 0.0, 0.0],
            [1.0, 1.0, 1.0, 1.0],
            [0.0, -6.0, 8.0, 0.0],
            [40.0, 0.0, -30.0, 80.0]]
COSINE_EXPECTED = [[-0.40824829, 0.40824829, -0.489897949, -0.173096929],
                   [-0.48, 0.7, 0.28, -0.254399491],
                   [-0.8, 0.1, 0.08, -0.296799406]]

# §4 A table whose rows have lengths from 0.25 to 13.6 (ranking by dot product instead of cosine
# gets them wrong), with no near ties. (query, k, exclude_self) -> (indices, cosine similarities);
# NEIGHBOUR_COSINES[query][j] is the cosine similarity of rows query and j (for the messages).
NEIGHBOUR_TABLE = [[-0.2, 0.3, 0.0], [0.1, 0.1, -0.2], [-3.6, 0.9, -1.2],
                   [-0.4, 0.8, 0.6], [-2.1, 1.2, 4.8], [-4.3, -1.5, 4.0],
                   [9.0, 5.4, 8.6], [-3.1, -5.6, -6.4], [-3.5, -6.6, -4.8]]
NEIGHBOUR_CASES = [
    ((2, 3, True), ([0, 5, 7], [0.70404256, 0.39468213, 0.3909246])),
    ((5, 4, False), ([5, 4, 3, 2], [1.0, 0.81124833, 0.44728495, 0.39468213])),
    ((0, 20, True), ([3, 2, 4, 5, 1, 6, 7, 8],
                     [0.82404192, 0.70404256, 0.4024845, 0.18760422, 0.1132277, -0.036791742,
                      -0.32479753, -0.39979508])),
]
NEIGHBOUR_COSINES = {
    2: [0.70404256, -0.031403715, 1.0, 0.34282216, 0.13738968, 0.39468213, -0.71542732, 0.3909246, 0.35863786],
    5: [0.18760422, -0.92946681, 0.39468213, 0.44728495, 0.81124833, 1.0, -0.15076538, -0.070537475, 0.10683103],
    0: [1.0, 0.1132277, 0.70404256, 0.82404192, 0.4024845, 0.18760422, -0.036791742, -0.32479753, -0.39979508],
}

# §5 (ids, window) -> the sorted (center, context) pairs.
SKIPGRAM_CASES = [
    (([10, 11, 12, 13], 1), [(10, 11), (11, 10), (11, 12), (12, 11), (12, 13), (13, 12)]),
    (([5, 6, 7, 8, 9], 2), [(5, 6), (5, 7), (6, 5), (6, 7), (6, 8), (7, 5), (7, 6), (7, 8), (7, 9),
                            (8, 6), (8, 7), (8, 9), (9, 7), (9, 8)]),
    (([3, 1, 3, 2], 2), [(1, 2), (1, 3), (1, 3), (2, 1), (2, 3), (3, 1), (3, 1), (3, 2), (3, 3), (3, 3)]),
    (([4, 5, 6], 10), [(4, 5), (4, 6), (5, 4), (5, 6), (6, 4), (6, 5)]),
    (([7], 2), []),
]

# §6 Two pairs, dimension 3, two negatives each: the loss and the gradients of its inputs.
SGNS_CENTER = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]
SGNS_CONTEXT = [[1.0, 0.5, -0.5], [-2.0, 1.0, 0.75]]
SGNS_NEGATIVES = [[[0.3, -0.2, 1.0], [-1.0, 0.5, 0.0]],
                  [[2.0, 0.0, -1.0], [0.1, -0.4, 0.6]]]
SGNS_LOSS = 5.67065187
SGNS_GRADS = {
    "center_vecs": [[-0.363059866, -0.206822712, 0.639231758],
                    [1.95049122, -0.566520836, -0.713213937]],
    "context_vecs": [[-0.182764645, 0.365529289, -0.731058579],
                     [-0.718434204, -0.119739034, 0.239478068]],
    "negative_vecs": [[[0.228233557, -0.456467114, 0.912934228],
                       [0.0672353553, -0.134470711, 0.268941421]],
                      [[0.728015827, 0.121335971, -0.242671942],
                       [0.328367624, 0.0547279374, -0.109455875]]],
}
# Every center 10, context -10, negative 10 (2 pairs, D=4, K=1): scores of -400 for the true
# pairs and +400 for the negatives, so each pair's loss is 400 + 400.
SGNS_HUGE_LOSS = 800.0
SGNS_HUGE_GRADS = {"center_vecs": 10.0, "context_vecs": -5.0, "negative_vecs": 5.0}



# ---------------------------------------------------------------------------------------------
# Probes: run in the process that holds your code, on the real objects, and report what
# happened as plain data (no expected values here: the checks compare).
# ---------------------------------------------------------------------------------------------

@probe
def module_facts(module) -> dict:
    """What `module` is: an nn.Module? its `weight`: a Parameter, its shape, registered?"""
    weight = getattr(module, "weight", None)
    is_module = isinstance(module, nn.Module)
    return {
        "is_module": is_module,
        "type": type(module).__name__,
        "has_weight": weight is not None,
        "weight_type": type(weight).__name__,
        "weight_is_parameter": isinstance(weight, nn.Parameter),
        "weight_requires_grad": bool(getattr(weight, "requires_grad", False)),
        "weight_shape": tuple(weight.shape) if isinstance(weight, torch.Tensor) else None,
        "weight_registered": is_module and any(p is weight for p in module.parameters()),
        "parameter_count": sum(p.numel() for p in module.parameters()) if is_module else None,
        "state_dict_keys": sorted(module.state_dict()) if is_module else None,
    }


@probe
def forward_backward(module, inputs, upstream=None, weight=None) -> dict:
    """Copy `weight` (if given) into ``module.weight``, run ``module(inputs)`` and, if `upstream`
    is given and the output can carry a gradient, backpropagate ``(out * upstream).sum()``.

    Reports the output, whether it requires grad, whether `inputs` was changed in place, and
    ``module.weight.grad`` afterwards (None if no gradient arrived).
    """
    if weight is not None:
        with torch.no_grad():
            module.weight.copy_(weight)
    before = inputs.clone()
    out = module(inputs)
    requires_grad = isinstance(out, torch.Tensor) and out.requires_grad
    grad = None
    if upstream is not None and requires_grad and tuple(out.shape) == tuple(upstream.shape):
        module.weight.grad = None
        (out * upstream.to(out.device, out.dtype)).sum().backward()
        grad = module.weight.grad
    return {"out": out, "requires_grad": requires_grad, "inputs_changed": not torch.equal(before, inputs),
            "weight_grad": grad}


@probe
def sgd_step_then_forward(module, inputs, lr: float):
    """One plain gradient-descent step on ``module(inputs).pow(2).sum()`` (each parameter moves by
    ``-lr * grad``, as ``torch.optim.SGD`` does), then ``module(inputs)`` again."""
    module.zero_grad(set_to_none=True)
    module(inputs).pow(2).sum().backward()
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.grad is not None:
                parameter -= lr * parameter.grad
    return module(inputs)


@probe
def value_and_grads(function, *inputs) -> dict:
    """Call ``function(*inputs)`` on copies of `inputs` that require grad; if the result is a
    scalar that requires grad, backpropagate it. Reports the value and each input's .grad."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = function(*leaves)
    requires_grad = isinstance(out, torch.Tensor) and out.requires_grad
    grads = None
    if requires_grad and out.dim() == 0:
        out.backward()
        grads = [leaf.grad for leaf in leaves]
    return {"value": out, "requires_grad": requires_grad, "grads": grads}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _expect_tensor(value, what: str) -> torch.Tensor:
    expect_type(value, torch.Tensor, what)
    return value


def _expect_device(value: torch.Tensor, device: torch.device, what: str) -> None:
    expect(value.device.type == device.type,
           f"{what} is on {value.device}, expected {device} (the device of its input): create new "
           "tensors with device=... of the input")


def _expect_index_error(call, what: str, advice: str) -> None:
    """`call()` must raise the documented IndexError; a ValueError is accepted too."""
    try:
        expect_raises(call, ValueError, what)
    except CheckFailed:
        expect_raises(call, IndexError, what, advice)


# ---------------------------------------------------------------------------------------------
# §1 one_hot
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.one_hot", timeout=20)
def check_one_hot(impl: Handle) -> None:
    """one_hot gives the expected float32 one-hot rows, keeps batch dimensions and rejects bad ids."""
    device = get_device()
    ids = torch.tensor(ONE_HOT_IDS, device=device)
    what = "one_hot(torch.tensor([2, 0, 1]), 4)"
    got = _expect_tensor(impl.one_hot(ids, 4), what)
    expect(got.dtype == torch.float32,
           f"{what} has dtype {got.dtype}, expected torch.float32: one-hot vectors are multiplied "
           "with float weights, so convert with .float() (F.one_hot returns int64)")
    expect_equal(tuple(got.shape), (3, 4), f"{what}.shape (one row of length vocab_size per id)")
    _expect_device(got, device, what)
    expect_close(got, torch.tensor(ONE_HOT_EXPECTED), f"{what} (row i has its 1.0 at column ids[i])")

    batch = torch.tensor(ONE_HOT_BATCH, device=device)
    what = "one_hot(torch.tensor([[4, 1, 1], [0, 3, 2]]), 5)"
    got = _expect_tensor(impl.one_hot(batch, 5), what)
    expect_equal(tuple(got.shape), (2, 3, 5), f"{what}.shape (the new axis goes last)")
    expect_close(got, torch.tensor(ONE_HOT_BATCH_EXPECTED), what)

    # Bad ids are tried on the CPU: on a GPU an unchecked out-of-range index can trigger a
    # device-side assert that breaks every later CUDA call of the process.
    expect_raises(lambda: impl.one_hot(torch.tensor([0, 4]), 4), ValueError,
                  "one_hot(torch.tensor([0, 4]), 4)", "4 is not a valid id when vocab_size is 4 (ids are 0..3)")
    expect_raises(lambda: impl.one_hot(torch.tensor([1, -1]), 4), ValueError,
                  "one_hot(torch.tensor([1, -1]), 4)", "Negative ids are not valid: check ids.min() too.")


# ---------------------------------------------------------------------------------------------
# §2 Embedding
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.embedding", timeout=20)
def check_embedding(impl: Handle) -> None:
    """Embedding gives nn.Embedding's outputs and weight gradients with the same weights."""
    device = get_device()
    layer = impl.Embedding(7, 4)
    facts = module_facts(layer)
    expect(facts["is_module"], f"Embedding(7, 4) is a {facts['type']}, expected an nn.Module")
    expect(facts["weight_is_parameter"],
           "Embedding(7, 4).weight must be an nn.Parameter (so that optimisers and .to(device) see it), "
           f"got {facts['weight_type']}")
    expect_equal(facts["weight_shape"], (7, 4), "Embedding(7, 4).weight.shape")

    # nn.Embedding with the same weights is the oracle (PyTorch's own, computed here).
    reference = nn.Embedding(7, 4)
    with torch.no_grad():
        reference.weight.copy_(torch.randn(7, 4, generator=_gen(2)))
    reference = reference.to(device)
    layer = layer.to(device)

    ids = torch.tensor([[1, 3, 3], [6, 0, 1]], device=device)  # repeated ids: gradients add up
    upstream = torch.randn(2, 3, 4, generator=_gen(0)).to(device)
    what = "Embedding(7, 4)(ids of shape (2, 3))"
    report = forward_backward(layer, ids, upstream, weight=reference.weight.detach())
    got = _expect_tensor(report["out"], what)
    expected = reference(ids)
    expect_equal(tuple(got.shape), (2, 3, 4), f"{what}.shape (one row of weight per id)")
    _expect_device(got, device, what)
    expect_close(got, expected.detach(), f"{what}, compared with nn.Embedding with the same weight,")
    expect(report["requires_grad"],
           f"{what} does not require grad: the output must be computed from self.weight (e.g. "
           "self.weight[ids]), not from a new tensor, .data or .detach(), or the table never learns")

    (expected * upstream).sum().backward()
    expect(report["weight_grad"] is not None,
           f"after backward() through {what}, weight.grad is None: the output is not connected to "
           "self.weight (avoid torch.tensor(...), .data, .detach() and .item() on the way)")
    expect_close(report["weight_grad"], reference.weight.grad,
                 f"weight.grad after backward() through {what} (rows 1 and 3 are used twice, so their "
                 "gradients must be summed), compared with nn.Embedding's,")

    layer = layer.cpu()  # bad ids on the CPU only (see check_one_hot)
    _expect_index_error(lambda: layer(torch.tensor([0, 7])), "Embedding(7, 4)(torch.tensor([0, 7]))",
                        "7 is not a row of a 7-row table (ids are 0..6): raise an IndexError.")
    _expect_index_error(lambda: layer(torch.tensor([-1])), "Embedding(7, 4)(torch.tensor([-1]))",
                        "self.weight[-1] silently reads the last row, so check ids.min() >= 0 yourself and "
                        "raise an IndexError.")


# ---------------------------------------------------------------------------------------------
# §3 cosine_similarity
# ---------------------------------------------------------------------------------------------

@public_check("embeddings.cosine_similarity", timeout=20)
def check_cosine_similarity(impl: Handle) -> None:
    """cosine_similarity gives the expected all-pairs values, is symmetric, and is 0 for zero vectors."""
    device = get_device()
    a = torch.tensor(COSINE_A, device=device)
    b = torch.tensor(COSINE_B, device=device)
    expected = torch.tensor(COSINE_EXPECTED, dtype=torch.float64)
    what = "cosine_similarity(a of shape (3, 4), b of shape (4, 4))"
    got = _expect_tensor(impl.cosine_similarity(a, b), what)
    expect_equal(tuple(got.shape), (3, 4), f"{what}.shape (out[i, j] compares a[i] with b[j])")
    _expect_device(got, device, what)
    expect_close(got, expected, f"{what} (rows of b have lengths 0.1, 2, 10 and 94; "
                 "both a and b must be normalised),", atol=1e-5, rtol=1e-4)

    what = "cosine_similarity(b, a)"
    swapped = _expect_tensor(impl.cosine_similarity(b, a), what)
    expect_close(swapped, expected.T, f"{what} (it must be the transpose of cosine_similarity(a, b))",
                 atol=1e-5, rtol=1e-4)

    what = "cosine_similarity(3.5 * a, 0.25 * b)"
    scaled = _expect_tensor(impl.cosine_similarity(3.5 * a, 0.25 * b), what)
    expect_close(scaled, expected, f"{what} (cosine similarity ignores the lengths of the vectors)",
                 atol=1e-5, rtol=1e-4)

    what = "cosine_similarity(a, a)"
    same = _expect_tensor(impl.cosine_similarity(a, a), what)
    expect_equal(tuple(same.shape), (3, 3), f"{what}.shape")
    expect_close(same.diagonal(), torch.ones(3), f"the diagonal of {what} (a vector is at angle 0 to itself)",
                 atol=1e-5, rtol=0)

    what = "cosine_similarity(a, b) where b[0] is a zero vector"
    with_zero = torch.cat([torch.zeros(1, 4, device=device), b[:1]])
    got = _expect_tensor(impl.cosine_similarity(a, with_zero), what)
    expect(not bool(torch.isnan(got.detach().cpu()).any()),
           f"{what} contains NaN: a zero vector has norm 0, so clamp the norms with eps "
           "(norm.clamp_min(eps)) before dividing")
    expect_close(got, torch.cat([torch.zeros(3, 1, dtype=torch.float64), expected[:, :1]], dim=1),
                 f"{what} (expected 0 for the zero vector)", atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# §4 nearest_neighbours
# ---------------------------------------------------------------------------------------------

def _check_neighbours_answer(impl, weight, query, k, exclude_self, expected_indices, expected_scores, what):
    """Compare (indices, scores) with the literal answer, with a message saying what differs."""
    answer = impl.nearest_neighbours(weight, query, k, exclude_self=exclude_self)
    expect(isinstance(answer, (tuple, list)) and len(answer) == 2,
           f"{what} returned a {type(answer).__name__ if not isinstance(answer, Handle) else answer.type_name}, "
           "expected a pair (indices, scores)")
    indices, scores = answer
    _expect_tensor(indices, f"{what}[0] (indices)")
    _expect_tensor(scores, f"{what}[1] (scores)")
    expect(not indices.dtype.is_floating_point,
           f"{what}: indices have dtype {indices.dtype}, expected an integer tensor (torch.long)")

    rows = weight.shape[0]
    candidates = rows - 1 if exclude_self else rows
    expected_k = len(expected_indices)
    expect(tuple(indices.shape) == (expected_k,),
           f"{what} returned indices of shape {tuple(indices.shape)}, expected ({expected_k},)"
           + (f": there are only {candidates} candidate rows, so return min(k, {candidates})"
              if k > candidates else ""))
    expect_equal(tuple(scores.shape), (expected_k,), f"the scores of {what} have a shape that")
    got_indices = [int(i) for i in indices.detach().cpu().reshape(-1)]
    if exclude_self:
        expect(query not in got_indices,
               f"{what} returned the query row {query} itself among its neighbours {got_indices}: with "
               "exclude_self=True leave it out (set its score to -inf before torch.topk)")
    expect(len(set(got_indices)) == len(got_indices), f"{what} repeats a row: {got_indices}")
    expect(all(0 <= i < rows for i in got_indices), f"{what} returned rows outside the table: {got_indices}")

    if got_indices != expected_indices:
        # The cosine similarities of the rows it chose, to say how far off they are.
        got_sims = [round(NEIGHBOUR_COSINES[query][i], 3) for i in got_indices]
        best = [round(v, 3) for v in expected_scores]
        if sorted(got_indices) == sorted(expected_indices):
            raise CheckFailed(f"{what} returned the right rows in the wrong order, {got_indices} with similarities "
                              f"{got_sims}: sort them from most to least similar, {expected_indices} (torch.topk "
                              "does, largest first)")
        raise CheckFailed(
            f"{what} returned rows {got_indices} (cosine similarities {got_sims}), but the "
            f"{expected_k} most similar rows are {expected_indices} ({best}): rank the rows by "
            "the cosine similarity of each row with the query row (a plain dot product favours long vectors)")
    expect_close(scores.detach().double().cpu(), torch.tensor(expected_scores, dtype=torch.float64),
                 f"the scores of {what} (they must be the cosine similarities of the returned rows)",
                 atol=1e-5, rtol=1e-4)


@public_check("embeddings.nearest_neighbours", timeout=20)
def check_nearest_neighbours(impl: Handle) -> None:
    """nearest_neighbours finds the expected rows (sorted, query excluded, k clamped) and scores."""
    device = get_device()
    # A real table is a Parameter: it requires grad.
    weight = torch.tensor(NEIGHBOUR_TABLE, device=device).requires_grad_(True)
    held = "cosine_similarity" in oracles("embeddings")
    try:
        with hold_fixed("embeddings", impl, "cosine_similarity"):
            for (query, k, exclude_self), (indices, scores) in NEIGHBOUR_CASES:
                what = f"nearest_neighbours(weight (9, 3), {query}, k={k}" + (
                    ")" if exclude_self else ", exclude_self=False)")
                if k > len(NEIGHBOUR_TABLE):
                    what += " (k larger than the table: return the 8 other rows)"
                elif not exclude_self:
                    what += f" (the query row {query} itself is the most similar row when it is not excluded)"
                _check_neighbours_answer(impl, weight, query, k, exclude_self, indices, scores, what)
            cpu_weight = weight.detach().cpu()  # bad queries on the CPU only (see check_one_hot)
            _expect_index_error(lambda: impl.nearest_neighbours(cpu_weight, 9, 2),
                                "nearest_neighbours(weight (9, 3), 9, k=2)",
                                "Row 9 is not a row of a 9-row table: raise an IndexError.")
    except CheckFailed as err:
        if held:
            raise
        raise CheckFailed(f"{err} [nearest_neighbours uses your cosine_similarity: if "
                          'check("embeddings.cosine_similarity") does not pass yet, fix that first]') from None


# ---------------------------------------------------------------------------------------------
# §5 skipgram_pairs
# ---------------------------------------------------------------------------------------------

def _check_pairs(impl, ids, window, expected, what):
    got = _expect_tensor(impl.skipgram_pairs(ids, window), what)
    expect(not got.dtype.is_floating_point and got.dtype != torch.bool,
           f"{what} has dtype {got.dtype}, expected torch.long (they are token ids)")
    expect(got.dim() == 2 and got.shape[1] == 2,
           f"{what} has shape {tuple(got.shape)}, expected ({len(expected)}, 2): one row (center, context) per pair")
    rows = sorted(tuple(int(v) for v in row) for row in got.cpu().tolist())
    if rows != expected:
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
        raise CheckFailed(
            f"{what} gave the wrong pairs ({'; '.join(detail)}). Each token is a "
            "center once for every token at distance 1..window on BOTH sides, never for itself")


@public_check("embeddings.skipgram_pairs", timeout=20)
def check_skipgram_pairs(impl: Handle) -> None:
    """skipgram_pairs yields every (center, context) pair within the window, both directions."""
    for (ids, window), expected in SKIPGRAM_CASES:
        what = f"skipgram_pairs({ids}, window={window})"
        if len(ids) == 1:
            what += " (a single token has no context: shape (0, 2))"
        elif window >= len(ids):
            what += " (window longer than the text)"
        _check_pairs(impl, ids, window, expected, what)
        if ids == [3, 1, 3, 2]:  # the same stream as a tensor
            _check_pairs(impl, torch.tensor(ids), window, expected,
                         f"skipgram_pairs(torch.tensor({ids}), window={window})")
    expect_raises(lambda: impl.skipgram_pairs([1, 2, 3], 0), ValueError,
                  "skipgram_pairs([1, 2, 3], window=0)", "A window must be at least 1.")


# ---------------------------------------------------------------------------------------------
# §6 sgns_loss
# ---------------------------------------------------------------------------------------------

_SGNS_FORMULA = "mean over pairs of -log σ(c·o) - Σ_k log σ(-c·n_k)"


def _expect_finite_scalar(got, what: str) -> torch.Tensor:
    """`got` must be a finite scalar tensor."""
    _expect_tensor(got, what)
    expect(got.dim() == 0,
           f"{what} has shape {tuple(got.shape)}, expected a scalar: average the per-pair losses with .mean()")
    expect(bool(torch.isfinite(got.detach().cpu())),
           f"{what} is {got.item()}: use F.logsigmoid(x) rather than torch.log(torch.sigmoid(x)), which "
           "underflows to log(0) = -inf for large scores")
    return got


def _sgns_value(impl, c, o, n, what) -> torch.Tensor:
    """Call sgns_loss and check that it returned a finite scalar."""
    return _expect_finite_scalar(impl.sgns_loss(c, o, n), what)


def _check_sgns(impl, inputs, expected_loss, expected_grads, what):
    """sgns_loss(*inputs) must equal `expected_loss` and give the gradients `expected_grads`."""
    report = value_and_grads(impl.sgns_loss, *inputs)
    got = _expect_finite_scalar(report["value"], what)
    expect_close(got.detach().double().cpu(), torch.tensor(expected_loss, dtype=torch.float64),
                 f"{what} (expected {_SGNS_FORMULA})", atol=1e-4, rtol=1e-4)
    expect(report["requires_grad"], f"{what} does not require grad: compute it with torch operations on the inputs")
    for number, ((name, expected), given) in enumerate(zip(expected_grads.items(), inputs)):
        grad = report["grads"][number]
        expect(grad is not None, f"after backward() on {what}, {name}.grad is None: the loss must depend on it")
        expected = torch.as_tensor(expected, dtype=torch.float64).expand(given.shape)
        expect_close(grad.double().cpu(), expected, f"the gradient of {what} with respect to {name}",
                     atol=1e-4, rtol=1e-3)


@public_check("embeddings.sgns_loss", timeout=20)
def check_sgns_loss(impl: Handle) -> None:
    """sgns_loss gives the expected value and gradients, averages over pairs and stays finite."""
    device = get_device()
    c, o, n = (torch.tensor(t, device=device) for t in (SGNS_CENTER, SGNS_CONTEXT, SGNS_NEGATIVES))
    what = "sgns_loss(center (2, 3), context (2, 3), negatives (2, 2, 3))"
    _check_sgns(impl, (c, o, n), SGNS_LOSS, SGNS_GRADS, what)

    # Huge scores: a true pair scored -400 and a negative scored +400.
    huge = (torch.full((2, 4), 10.0, device=device), torch.full((2, 4), -10.0, device=device),
            torch.full((2, 1, 4), 10.0, device=device))
    _check_sgns(impl, huge, SGNS_HUGE_LOSS, SGNS_HUGE_GRADS, "sgns_loss with scores of ±400 (a badly wrong pair)")

    # Properties of any correct loss, on the learner's own values.
    base = _sgns_value(impl, c, o, n, what)
    doubled = _sgns_value(impl, torch.cat([c, c]), torch.cat([o, o]), torch.cat([n, n]),
                          "sgns_loss of the same batch written twice")
    expect_close(doubled.double().cpu(), base.double().cpu(),
                 "sgns_loss of a batch written twice (the same pairs twice: the mean, and so the loss, "
                 f"must not change) compared with {what}", atol=1e-5, rtol=1e-5)
    aligned = _sgns_value(impl, c, 2 * c, n, "sgns_loss(c, 2 * c, negatives)")
    opposed = _sgns_value(impl, c, -2 * c, n, "sgns_loss(c, -2 * c, negatives)")
    expect(float(aligned) < float(opposed),
           f"sgns_loss(c, 2 * c, negatives) = {float(aligned):.4g} is not below sgns_loss(c, -2 * c, "
           f"negatives) = {float(opposed):.4g}: the loss must go down when a true pair's vectors point "
           "the same way (its term is -log σ(c·o))")
    negatives_aligned = _sgns_value(impl, c, o, 2 * c.unsqueeze(1).expand_as(n).contiguous(),
                                    "sgns_loss(c, o, negatives equal to 2 * c)")
    negatives_opposed = _sgns_value(impl, c, o, -2 * c.unsqueeze(1).expand_as(n).contiguous(),
                                    "sgns_loss(c, o, negatives equal to -2 * c)")
    expect(float(negatives_aligned) > float(negatives_opposed),
           f"sgns_loss with negatives equal to 2 * c ({float(negatives_aligned):.4g}) is not above the "
           f"loss with negatives equal to -2 * c ({float(negatives_opposed):.4g}): a random word that "
           "scores high must cost more (its term is -log σ(-c·n_k), note the minus sign)")
