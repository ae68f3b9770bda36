"""Public checks for notebook 03 (positional encodings): ``check("positional.sinusoidal_table")``.

Each check gets the module under test as `impl` and never imports a reference solution, nor
contains one: the expected values are LITERAL numbers for small fixed inputs (computed once with
the course's reference solution and pasted here), together with properties that any correct
answer has (values in [-1, 1], sin^2 + cos^2 = 1, rotations keep lengths, RoPE scores depend on
m - n only, position 0 is not rotated), shapes, dtypes, devices and errors on bad input. When
this assignment is graded, more cases are run (other sizes, random inputs).
Numerical comparisons run on the CPU; the device checks run on `get_device()` (the device under
test: ``COURSE_DEVICE`` or ``pytest --device``).

Your code runs apart from the check (see `course_lib.checks.remote`): what your functions return
comes back as plain tensors, and what needs the real objects (is ``weight`` an ``nn.Parameter``?
does a gradient reach it? was ``x`` changed in place?) is done by the *probes* below, which only
run your code and report what happened; the expected values stay in the checks.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks.framework import (
    CheckFailed,
    Handle,
    StudentError,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    expect_type,
    hold_fixed,
    probe,
    public_check,
)
from course_lib.device import get_device

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
def forward_backward(module, x, upstream=None, weight=None) -> dict:
    """Copy `weight` (if given) into ``module.weight``, run ``module(x)`` and, if `upstream` is
    given and the output can carry a gradient, backpropagate ``(out * upstream).sum()``.

    Reports the output, whether it requires grad, whether `x` was changed in place, and
    ``module.weight.grad`` afterwards (None if no gradient arrived).
    """
    if weight is not None:
        with torch.no_grad():
            module.weight.copy_(weight)
    before = x.clone()
    out = module(x)
    requires_grad = isinstance(out, torch.Tensor) and out.requires_grad
    grad = None
    if upstream is not None and requires_grad and tuple(out.shape) == tuple(upstream.shape):
        module.weight.grad = None
        (out * upstream.to(out.device, out.dtype)).sum().backward()
        grad = module.weight.grad
    return {"out": out, "requires_grad": requires_grad, "x_changed": not torch.equal(before, x),
            "weight_grad": grad}


@probe
def call_watching_inputs(function, *args, **kwargs) -> dict:
    """Call ``function(*args, **kwargs)``; report its result and which tensor arguments it
    changed in place (by position)."""
    before = [a.clone() if isinstance(a, torch.Tensor) else None for a in args]
    out = function(*args, **kwargs)
    changed = [i for i, (a, b) in enumerate(zip(args, before)) if b is not None and not torch.equal(a, b)]
    return {"out": out, "changed": changed}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _close_with_hint(got, expected, what: str, hint: str, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`expect_close`, with a reminder of what the right answer is appended to the failure."""
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}") from None


def _matches(got, candidate: torch.Tensor, atol: float = 1e-4) -> bool:
    """True if `got` has `candidate`'s shape and values (used to recognise a known mistake)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g = got.detach().to("cpu", torch.float64)
    return bool(((g - candidate.to(torch.float64)).abs() <= atol).all())


def _expect_tensor(got, shape: tuple[int, ...], dtype: torch.dtype, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    expect_equal(tuple(got.shape), shape, f"{what}.shape")
    expect(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype}: convert the result "
           f"with .to(dtype=dtype) (or do the arithmetic in that dtype)")


def _expect_on(got: torch.Tensor, device: torch.device, what: str, advice: str) -> None:
    expect(got.device.type == device.type,
           f"{what} is on {got.device}, expected {device.type}: {advice}")


def _kind(value) -> str:
    """The type of a value for a message ("tuple", "Tensor", or the class of an object in the worker)."""
    return value.type_name if isinstance(value, Handle) else type(value).__name__


def _literal(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# §1 sinusoidal_table
# ---------------------------------------------------------------------------------------------

SINUSOID_HINT = ("Expected PE[pos, 2i] = sin(pos / base ** (2i / d_model)) and PE[pos, 2i+1] = cos(the same "
                 "angle), where i = 0 .. d_model/2 - 1 is the pair index.")

# Literal expected values, computed once with the course's reference solution (in float64) and
# pasted here to 12 significant digits. Rows are positions 0, 1, 2, ...
SINUSOID_4x6 = _literal([  # sinusoidal_table(4, 6)  (base 10000)
    [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    [0.841470984808, 0.540302305868, 0.0463992234647, 0.998922976041, 0.00215443302337, 0.999997679206],
    [0.909297426826, -0.416146836547, 0.0926985007787, 0.995694224124, 0.00430885604674, 0.999990716837],
    [0.14112000806, -0.9899924966, 0.13879810108, 0.990320699136, 0.00646325907019, 0.999979112923],
])
SINUSOID_5x4_BASE_100 = _literal([  # sinusoidal_table(5, 4, base=100.0)
    [0.0, 1.0, 0.0, 1.0],
    [0.841470984808, 0.540302305868, 0.0998334166468, 0.995004165278],
    [0.909297426826, -0.416146836547, 0.198669330795, 0.980066577841],
    [0.14112000806, -0.9899924966, 0.295520206661, 0.955336489126],
    [-0.756802495308, -0.653643620864, 0.389418342309, 0.921060994003],
])
SINUSOID_50x16_ROW_49 = _literal([  # sinusoidal_table(50, 16)[49]
    [-0.953752652759, 0.300592543744, 0.21120023714, -0.977442816656, -0.982452612624, 0.186512369423,
     0.999773583528, 0.02127866722, 0.470625888171, 0.88233285861, 0.154332284636, 0.988019000788,
     0.0489803941872, 0.998799740181, 0.0154945404776, 0.999879952402],
])[0]
# A known WRONG answer (literal, for a targeted message): row 1 of a 6-column table (base 10000)
# that multiplies the position by base ** (2i/d_model) instead of dividing by it.
SINUSOID_4x6_ROW_1_MULTIPLIED = _literal([
    [0.841470984808, 0.540302305868, 0.43208339168, -0.901833655745, -0.715143489665, 0.698977674314],
])[0]


def _diagnose_sinusoid_4x6(table: torch.Tensor, what: str) -> None:
    """Targeted messages for known mistakes, recognised by comparing with the literal table."""
    expected = SINUSOID_4x6
    if _matches(table, expected):
        return
    if not isinstance(table, torch.Tensor) or tuple(table.shape) != (4, 6):
        return
    got = table.detach().to("cpu", torch.float64)
    sines, cosines = expected[:, 0::2], expected[:, 1::2]
    if _matches(got[:, 0::2], cosines) and _matches(got[:, 1::2], sines):
        raise CheckFailed(f"{what}: sin and cos are swapped: the even columns (0, 2, 4, ...) must hold sin, the "
                          "odd columns cos. Row 0 (position 0) should read 0, 1, 0, 1, ...")
    if _matches(got[:, :3], sines) and _matches(got[:, 3:], cosines):
        raise CheckFailed(f"{what}: all the sines come first and all the cosines after; interleave them instead: "
                          "table[:, 0::2] = sin, table[:, 1::2] = cos")
    # With the exponent i/d_model (i the pair index), pair 2 of a 6-column table gets the
    # frequency that pair 1 should have, while pair 0 stays right.
    if _matches(got[:, 0:2], expected[:, 0:2]) and _matches(got[:, 4:6], expected[:, 2:4]):
        raise CheckFailed(f"{what}: the exponent should be 2i/d_model with i the pair index (i.e. "
                          "torch.arange(0, d_model, 2) / d_model); you used i/d_model, so the frequencies only "
                          "go half-way down")
    if _matches(got[1], SINUSOID_4x6_ROW_1_MULTIPLIED):
        raise CheckFailed(f"{what}: divide the position by base ** (2i/d_model) (equivalently multiply by "
                          "base ** (-2i/d_model)); you multiplied, so the clocks speed up instead of slowing down")
    if _matches(got[:, 0::2], sines) and not _matches(got[:, 1::2], cosines):
        raise CheckFailed(f"{what}: the sin columns are right but the cos columns are not: the cos column 2i+1 "
                          "must use the SAME angle (and frequency base ** (-2i/d_model)) as its sin partner 2i")


@public_check("positional.sinusoidal_table", timeout=20)
def check_sinusoidal_table(impl: Handle) -> None:
    """The sinusoidal table has the right values for small inputs, the right properties, shape, dtype and device."""
    what = "sinusoidal_table(4, 6)"
    small = impl.sinusoidal_table(4, 6)
    _expect_tensor(small, (4, 6), torch.float32, what)
    _diagnose_sinusoid_4x6(small, what)
    _close_with_hint(small, SINUSOID_4x6.float(), what, SINUSOID_HINT)

    table = impl.sinusoidal_table(50, 16)
    what = "sinusoidal_table(50, 16)"
    _expect_tensor(table, (50, 16), torch.float32, what)
    values = table.detach().to("cpu", torch.float64)
    expect(not torch.isnan(values).any(), f"{what} contains NaN values")
    expect(bool((values.abs() <= 1 + 1e-6).all()),
           f"{what} has values outside [-1, 1] (largest {values.abs().max():.4g}): every entry is a sin or a cos")
    _close_with_hint(table[0], torch.tensor([0.0, 1.0] * 8), f"{what}, row 0 (position 0)",
                     "Position 0 has angle 0 in every pair, so its row is sin 0, cos 0, sin 0, ... = 0, 1, 0, 1, ...")
    pair_norms = values[:, 0::2] ** 2 + values[:, 1::2] ** 2
    _close_with_hint(pair_norms, torch.ones(50, 8), f"{what}: column 2i squared plus column 2i+1 squared",
                     "Columns 2i and 2i+1 are the sin and cos of ONE angle, so their squares add up to 1.", atol=1e-5)
    _close_with_hint(table[49], SINUSOID_50x16_ROW_49.float(), f"{what}, row 49 (position 49)", SINUSOID_HINT)

    # Another base and float64: the angles must really be computed in float64.
    what = "sinusoidal_table(5, 4, base=100.0, dtype=torch.float64)"
    table64 = impl.sinusoidal_table(5, 4, base=100.0, dtype=torch.float64)
    _expect_tensor(table64, (5, 4), torch.float64, what)
    _close_with_hint(table64, SINUSOID_5x4_BASE_100, what,
                     SINUSOID_HINT + " Use the `base` argument, not a hard-coded 10000.", atol=1e-4, rtol=0)
    _close_with_hint(table64, SINUSOID_5x4_BASE_100, what,
                     "The values are right only to float32 precision: build the positions and frequencies "
                     "with dtype=torch.float64 (torch.arange(..., dtype=torch.float64)) and convert at the end, "
                     "instead of computing in float32 and converting the result.", atol=1e-10, rtol=0)

    # dtype and device: the table is built where and as the caller asks.
    device = get_device()
    on_device = impl.sinusoidal_table(8, 6, device=device)
    _expect_tensor(on_device, (8, 6), torch.float32, f"sinusoidal_table(8, 6, device={str(device)!r})")
    _expect_on(on_device, device, f"sinusoidal_table(8, 6, device={str(device)!r})",
               "move the result with .to(device=device)")
    _close_with_hint(on_device[:4].cpu(), SINUSOID_4x6.float(), f"sinusoidal_table(8, 6, device={str(device)!r})[:4]",
                     SINUSOID_HINT)
    half = impl.sinusoidal_table(8, 6, dtype=torch.float16, device=device)
    _expect_tensor(half, (8, 6), torch.float16, f"sinusoidal_table(8, 6, dtype=torch.float16, device={str(device)!r})")
    _expect_on(half, device, "sinusoidal_table(8, 6, dtype=torch.float16)", "move the result with .to(device=device)")

    advice = "Raise ValueError with a message saying what is wrong (this check is at the top of the function)."
    expect_raises(lambda: impl.sinusoidal_table(10, 7), ValueError, "sinusoidal_table(10, 7) (odd d_model)", advice)
    expect_raises(lambda: impl.sinusoidal_table(0, 8), ValueError, "sinusoidal_table(0, 8) (no positions)", advice)


# ---------------------------------------------------------------------------------------------
# §2 LearnedPositionalEmbedding
# ---------------------------------------------------------------------------------------------

@public_check("positional.learned_positions", timeout=20)
def check_learned_positions(impl: Handle) -> None:
    """LearnedPositionalEmbedding registers a (max_len, d_model) parameter, adds it to x, lets gradients flow, rejects bad shapes."""
    embedding = impl.LearnedPositionalEmbedding(16, 8)
    facts = module_facts(embedding)
    expect(facts["is_module"], f"LearnedPositionalEmbedding must be an nn.Module, got a {facts['type']}")
    expect(facts["has_weight"], "LearnedPositionalEmbedding(16, 8) has no attribute `weight`: store the table "
           "as self.weight = nn.Parameter(...) in __init__")
    expect(facts["weight_is_parameter"],
           f"self.weight is a {facts['weight_type']}, not an nn.Parameter: wrap the tensor in nn.Parameter(...) "
           "so that .parameters() (and so the optimizer, .to(device) and state_dict) see it")
    expect_equal(facts["weight_shape"], (16, 8), "LearnedPositionalEmbedding(16, 8).weight.shape")
    expect(facts["weight_requires_grad"],
           "self.weight does not require gradients: do not create it with requires_grad=False")
    expect(facts["weight_registered"],
           "self.weight is not among embedding.parameters(): assign the nn.Parameter to an attribute of the module")
    expect(bool(embedding.weight.abs().sum() > 0), "self.weight is all zeros: initialise it randomly, "
           "e.g. torch.randn(max_len, d_model) * init_std")

    x = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    report = forward_backward(embedding, x)
    out = report["out"]
    expect_type(out, torch.Tensor, "embedding(x)")
    expect(tuple(out.shape) != (3, 5, 16), "embedding(x) has shape (3, 5, 16) for x of shape (3, 5, 8): the "
           "positions must be ADDED to x (x + weight[:seq]), not concatenated to it")
    expect_equal(tuple(out.shape), (3, 5, 8), "embedding(x) for x of shape (3, 5, 8): its shape")
    expect(not report["x_changed"],
           "embedding(x) modified x in place: return x + ... (a new tensor) instead of x += ...")

    # Known table values, so that the expected outputs are literal numbers: weight[t, c] = 8t + c.
    # The gradient of embedding(x).sum() is computed too (upstream gradient 1 everywhere).
    first_rows = torch.arange(40.0).reshape(5, 8)  # what weight[:5] then holds: row t is 8t, ..., 8t + 7
    report = forward_backward(embedding, x, torch.ones(3, 5, 8), weight=torch.arange(128.0).reshape(16, 8))
    out = report["out"]
    _expect_tensor(out, (3, 5, 8), torch.float32, "embedding(x) for x of shape (3, 5, 8)")
    _close_with_hint(out.detach() - x, first_rows.expand(3, 5, 8), "embedding(x) - x for x of shape (3, 5, 8)",
                     "Expected x + self.weight[:seq]: row t of every sequence gets self.weight[t].", atol=1e-5)
    single = embedding(x[0])
    _expect_tensor(single, (5, 8), torch.float32, "embedding(x) for x of shape (5, 8) (one sequence)")
    _close_with_hint(single.detach() - x[0], first_rows, "embedding(x) - x for x of shape (5, 8) (one sequence)",
                     "Use x.shape[-2] for the sequence length and let broadcasting handle any batch dims.", atol=1e-5)

    # Gradients reach the table: each of the first 5 rows was used once per sequence (3 times).
    expect(report["requires_grad"], "embedding(x) does not require grad although self.weight does: compute the output "
           "from self.weight itself (not self.weight.data, .detach() or under torch.no_grad()), or it will never train")
    grad = report["weight_grad"]
    expect(grad is not None, "after embedding(x).sum().backward(), self.weight.grad is None: the output must be "
           "computed from self.weight itself (no .detach(), .data or torch.no_grad())")
    expected_grad = torch.zeros(16, 8)
    expected_grad[:5] = 3.0
    _close_with_hint(grad, expected_grad, "self.weight.grad after embedding(x).sum().backward() for x of shape (3, 5, 8)",
                     "Rows 0..4 are used by each of the 3 sequences (gradient 3), rows 5.. are unused (gradient 0).")

    advice = "Raise ValueError with a message that names the sizes (this check is at the top of forward)."
    expect_raises(lambda: embedding(torch.randn(2, 17, 8)), ValueError,
                  "embedding(x) with seq=17 > max_len=16", advice)
    expect_raises(lambda: embedding(torch.randn(2, 5, 7)), ValueError,
                  "embedding(x) with last dimension 7 != d_model=8", advice)

    device = get_device()
    moved = impl.LearnedPositionalEmbedding(16, 8).to(device)
    moved_weight = moved.weight
    expect(moved_weight.device.type == device.type,
           f"after .to({str(device)!r}) the table is still on {moved_weight.device}: it must be an nn.Parameter")
    out = moved(torch.randn(2, 4, 8, device=device))
    _expect_tensor(out, (2, 4, 8), torch.float32, f"embedding(x) on {device}")
    _expect_on(out, device, f"embedding(x) on {device}", "compute the output from x and self.weight only")


# ---------------------------------------------------------------------------------------------
# §3 rope_frequencies
# ---------------------------------------------------------------------------------------------

ROPE_TABLE_HINT = ("Expected cos[pos, c] = cos(pos * base ** (-2j / head_dim)) with j = c mod (head_dim/2) "
                   "(rotate-half layout: column c and c + head_dim/2 share one angle), and the same for sin.")

# Literal expected values, computed once with the course's reference solution (in float64) and
# pasted here to 12 significant digits. Rows are positions 0, 1, 2, ...
ROPE8_COS = _literal([  # rope_frequencies(8, 4)[0]  (base 10000)
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [0.540302305868, 0.995004165278, 0.999950000417, 0.9999995,
     0.540302305868, 0.995004165278, 0.999950000417, 0.9999995],
    [-0.416146836547, 0.980066577841, 0.999800006667, 0.999998000001,
     -0.416146836547, 0.980066577841, 0.999800006667, 0.999998000001],
    [-0.9899924966, 0.955336489126, 0.999550033749, 0.999995500003,
     -0.9899924966, 0.955336489126, 0.999550033749, 0.999995500003],
])
ROPE8_SIN = _literal([  # rope_frequencies(8, 4)[1]  (base 10000)
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.841470984808, 0.0998334166468, 0.00999983333417, 0.000999999833333,
     0.841470984808, 0.0998334166468, 0.00999983333417, 0.000999999833333],
    [0.909297426826, 0.198669330795, 0.0199986666933, 0.00199999866667,
     0.909297426826, 0.198669330795, 0.0199986666933, 0.00199999866667],
    [0.14112000806, 0.295520206661, 0.0299955002025, 0.0029999955,
     0.14112000806, 0.295520206661, 0.0299955002025, 0.0029999955],
])
ROPE4_COS = _literal([  # rope_frequencies(4, 8, base=100.0)[0]
    [1.0, 1.0, 1.0, 1.0],
    [0.540302305868, 0.995004165278, 0.540302305868, 0.995004165278],
    [-0.416146836547, 0.980066577841, -0.416146836547, 0.980066577841],
    [-0.9899924966, 0.955336489126, -0.9899924966, 0.955336489126],
    [-0.653643620864, 0.921060994003, -0.653643620864, 0.921060994003],
    [0.283662185463, 0.87758256189, 0.283662185463, 0.87758256189],
    [0.96017028665, 0.82533561491, 0.96017028665, 0.82533561491],
    [0.753902254343, 0.764842187284, 0.753902254343, 0.764842187284],
])
ROPE4_SIN = _literal([  # rope_frequencies(4, 8, base=100.0)[1]
    [0.0, 0.0, 0.0, 0.0],
    [0.841470984808, 0.0998334166468, 0.841470984808, 0.0998334166468],
    [0.909297426826, 0.198669330795, 0.909297426826, 0.198669330795],
    [0.14112000806, 0.295520206661, 0.14112000806, 0.295520206661],
    [-0.756802495308, 0.389418342309, -0.756802495308, 0.389418342309],
    [-0.958924274663, 0.479425538604, -0.958924274663, 0.479425538604],
    [-0.279415498199, 0.564642473395, -0.279415498199, 0.564642473395],
    [0.656986598719, 0.644217687238, 0.656986598719, 0.644217687238],
])


def _expect_pair(result, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    expect(isinstance(result, (tuple, list)) and len(result) == 2,
           f"{what} returned a {_kind(result)}, expected a tuple (cos, sin) of two tensors")
    return result[0], result[1]


def _diagnose_rope8(table: torch.Tensor, name: str, what: str) -> None:
    """Targeted messages for known mistakes in the first 4 rows of rope_frequencies(8, ...)."""
    expected, other = (ROPE8_COS, ROPE8_SIN) if name == "cos" else (ROPE8_SIN, ROPE8_COS)
    got = table.detach().to("cpu", torch.float64)
    if _matches(got, expected):
        return
    if _matches(got, expected[:, [0, 0, 1, 1, 2, 2, 3, 3]]):
        raise CheckFailed(
            f"{what} ({name}): the angles are in the interleaved layout (repeat_interleave: columns 2j and 2j+1 "
            "share an angle), but this course pairs coordinate j with j + head_dim/2 (rotate-half): use "
            "torch.cat([angles, angles], dim=-1)")
    if _matches(got, other):
        raise CheckFailed(f"{what} ({name}): cos and sin are swapped: return (cos, sin) in that order")
    # With theta_j = base ** (-j / head_dim), pair 2 turns at the speed pair 1 should have.
    if _matches(got[:, [0, 2, 4, 6]], expected[:, [0, 1, 4, 5]]):
        raise CheckFailed(f"{what} ({name}): the exponent should be 2j/head_dim "
                          "(torch.arange(0, head_dim, 2) / head_dim); you used j/head_dim")


@public_check("positional.rope_frequencies", timeout=20)
def check_rope_frequencies(impl: Handle) -> None:
    """rope_frequencies returns (cos, sin) of shape (max_len, head_dim) in the rotate-half layout, with the right values for small inputs."""
    what = "rope_frequencies(8, 20)"
    cos, sin = _expect_pair(impl.rope_frequencies(8, 20), what)
    for name, table in (("cos", cos), ("sin", sin)):
        if isinstance(table, torch.Tensor) and tuple(table.shape) == (20, 4):
            raise CheckFailed(f"{what}: {name} has shape (20, 4): the table has only head_dim/2 columns of "
                              "angles: repeat them for both halves with torch.cat([angles, angles], dim=-1)")
        _expect_tensor(table, (20, 8), torch.float32, f"{what}[{'0' if name == 'cos' else '1'}] ({name})")
    for name, table, expected in (("cos", cos, ROPE8_COS), ("sin", sin, ROPE8_SIN)):
        _diagnose_rope8(table[:4], name, f"{what}[:4]")
        _close_with_hint(table[:4], expected.float(), f"{what} ({name}), rows 0-3", ROPE_TABLE_HINT)
    # Properties of all 20 rows.
    c, s = cos.detach().to("cpu", torch.float64), sin.detach().to("cpu", torch.float64)
    _close_with_hint(c[:, :4], c[:, 4:], f"{what}: the right half of cos", "Column c and column c + head_dim/2 "
                     "belong to the same pair, so both halves of each table are equal (rotate-half layout).", atol=1e-6)
    _close_with_hint(s[:, :4], s[:, 4:], f"{what}: the right half of sin", "Column c and column c + head_dim/2 "
                     "belong to the same pair, so both halves of each table are equal (rotate-half layout).", atol=1e-6)
    _close_with_hint(c ** 2 + s ** 2, torch.ones(20, 8), f"{what}: cos ** 2 + sin ** 2",
                     "cos and sin must be the cosine and sine of the SAME angles.", atol=1e-5)

    # Another base and float64: the angles must really be computed in float64.
    what = "rope_frequencies(4, 8, base=100.0, dtype=torch.float64)"
    cos, sin = _expect_pair(impl.rope_frequencies(4, 8, base=100.0, dtype=torch.float64), what)
    for name, table, expected in (("cos", cos, ROPE4_COS), ("sin", sin, ROPE4_SIN)):
        _expect_tensor(table, (8, 4), torch.float64, f"{what} ({name})")
        _close_with_hint(table, expected, f"{what} ({name})",
                         ROPE_TABLE_HINT + " Use the `base` argument.", atol=1e-4, rtol=0)
        _close_with_hint(table, expected, f"{what} ({name})",
                         "The values are right only to float32 precision: compute the angles in float64 "
                         "and convert at the end.", atol=1e-10, rtol=0)

    device = get_device()
    what = f"rope_frequencies(4, 10, device={str(device)!r})"
    for name, table in zip(("cos", "sin"), _expect_pair(impl.rope_frequencies(4, 10, device=device), what)):
        _expect_tensor(table, (10, 4), torch.float32, f"{what} ({name})")
        _expect_on(table, device, f"{what} ({name})", "convert the tables with .to(device=device)")

    expect_raises(lambda: impl.rope_frequencies(7, 10), ValueError, "rope_frequencies(7, 10) (odd head_dim)",
                   "RoPE rotates pairs of coordinates, so head_dim must be even: raise ValueError.")


# ---------------------------------------------------------------------------------------------
# §4 apply_rope
# ---------------------------------------------------------------------------------------------

# One worked example, computed once with the course's reference solution (in float64, with the
# tables rope_frequencies(4, 8, base=100.0)) and pasted here to 15 significant digits.
ROPE_EXAMPLE_X = _literal([
    [1.0, 2.0, -0.5, 3.0],
    [0.25, -1.0, 2.0, 1.5],
    [-2.0, 0.5, 1.0, -1.0],
    [3.0, -0.75, -1.5, 0.5],
])
ROPE_EXAMPLE_OUT = _literal([  # apply_rope(ROPE_EXAMPLE_X, cos, sin): rows at positions 0, 1, 2, 3
    [1.0, 2.0, -0.5, 3.0],
    [-1.54786639314876, -1.14475429024827, 1.29097235793825, 1.39267283127021],
    [-0.0770037537313969, 0.688702619715682, -2.23474169019851, -0.880731912443711],
    [-2.75829747771154, -0.864262470174874, 1.90834876908027, 0.256028089566798],
])
ROPE_EXAMPLE_OUT_AT_7220 = _literal([  # apply_rope(ROPE_EXAMPLE_X, cos, sin, positions=[7, 2, 2, 0])
    [1.0823955537027, -0.402968687144097, 0.280035471547137, 3.58296193632885],
    [-1.92263156278815, -1.27807057403383, -0.604969316387864, 1.2714305359668],
    [-0.0770037537313969, 0.688702619715682, -2.23474169019851, -0.880731912443711],
    [3.0, -0.75, -1.5, 0.5],
])
# Known WRONG answers for the same example (literal, for targeted messages).
ROPE_EXAMPLE_MINUS_ANGLE = _literal([  # every pair turned by minus its angle
    [1.0, 2.0, -0.5, 3.0],
    [1.81801754608283, -0.845254040307784, 0.870236865534305, 1.59233966456387],
    [1.74159109991997, 0.29136395812556, 1.40244801710422, -1.07940124323877],
    [-3.18165750189114, -0.568742263513535, 1.06162872072107, 0.699308399558808],
])
ROPE_EXAMPLE_SHIFTED = _literal([  # rows at positions 1, 2, 3, 4 instead of 0, 1, 2, 3
    [0.961037798272088, 1.69050808061557, 0.571319831873827, 3.18467932912773],
    [-1.92263156278815, -1.27807057403383, -0.604969316387864, 1.2714305359668],
    [1.83886498514102, 0.773188451224143, -1.27223251272018, -0.807576385794936],
    [-3.09613460555273, -0.885504916656489, -1.28994205462837, 0.168466740269955],
])

ROPE_VALUES_HINT = ("Expected out[..., j] = x1 * c - x2 * s and out[..., j + head_dim/2] = x2 * c + x1 * s with "
                    "x1 = x[..., j], x2 = x[..., j + head_dim/2], c = cos[pos, j], s = sin[pos, j].")


def _scores(impl, q: torch.Tensor, k: torch.Tensor, cos, sin, m: list[int], n: list[int]) -> torch.Tensor:
    """score[t] = <rope(q, m[t]), rope(k, n[t])> for a single query and key vector, all pairs at once."""
    queries = impl.apply_rope(q.expand(len(m), -1).clone(), cos, sin, positions=torch.tensor(m))
    keys = impl.apply_rope(k.expand(len(n), -1).clone(), cos, sin, positions=torch.tensor(n))
    expect(isinstance(queries, torch.Tensor) and tuple(queries.shape) == (len(m), q.shape[-1]),
           f"apply_rope(x, cos, sin, positions=...) for x of shape ({len(m)}, {q.shape[-1]}) returned "
           f"{tuple(queries.shape) if isinstance(queries, torch.Tensor) else _kind(queries)}: it must keep the shape of x")
    return (queries.detach() * keys.detach()).sum(-1).to(torch.float64)


def _expect_relative(impl, q, k, cos, sin, m: list[int], n: list[int], shifts: tuple[int, ...], tol: float) -> None:
    """<rope(q, m), rope(k, n)> must not change when m and n are shifted by the same amount."""
    base_scores = _scores(impl, q, k, cos, sin, m, n)
    for shift in shifts:
        shifted = _scores(impl, q, k, cos, sin, [a + shift for a in m], [b + shift for b in n])
        worst = int((shifted - base_scores).abs().argmax())
        expect(abs(float(shifted[worst] - base_scores[worst])) < tol * (1 + abs(float(base_scores[worst]))),
               f"RoPE's key property fails: <rope(q, m={m[worst]}), rope(k, n={n[worst]})> = {base_scores[worst]:.6f} "
               f"but shifting both positions by {shift} gives {shifted[worst]:.6f}; the score must depend on m - n "
               "only. Rotate q and k by the same angles for the same position (row p of cos/sin for position p)")


@public_check("positional.apply_rope", timeout=20)
def check_apply_rope(impl: Handle) -> None:
    """apply_rope rotates pairs (j, j + head_dim/2): it keeps norms, scores depend only on m - n, and a worked example has the right values."""
    g = torch.Generator().manual_seed(3)
    head_dim = 4
    cos64, sin64 = ROPE4_COS, ROPE4_SIN  # rope_frequencies(4, 8, base=100.0), as literals
    cos32, sin32 = cos64.float(), sin64.float()

    # Shapes, dtype, no in-place change.
    x = torch.randn(2, 3, 6, head_dim, generator=g)
    what = "apply_rope(x, cos, sin) for x of shape (2, 3, 6, 4)"
    report = call_watching_inputs(impl.apply_rope, x, cos32, sin32)
    out = report["out"]
    _expect_tensor(out, (2, 3, 6, 4), torch.float32, what)
    expect(0 not in report["changed"], f"{what} modified x in place: build a new tensor instead")
    expect(not report["changed"], f"{what} modified cos or sin in place: build new tensors instead")

    # A rotation keeps lengths.
    norms_in, norms_out = x.norm(dim=-1), out.detach().norm(dim=-1)
    bad = (norms_out - norms_in).abs() > 1e-4 * (1 + norms_in)
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise CheckFailed(
            f"{what} changed the length of vector {index}: {norms_in[index]:.5f} -> {norms_out[index]:.5f}. RoPE "
            "rotates each pair (x[..., j], x[..., j + head_dim/2]) and must keep lengths: compute "
            "x * cos + rotate_half(x) * sin with rotate_half(x) = cat([-x2, x1], dim=-1), where "
            "x1 = x[..., :head_dim//2] and x2 = x[..., head_dim//2:] (the halves, not even/odd coordinates)")

    # Position 0 is not rotated at all.
    _close_with_hint(out[..., 0, :], x[..., 0, :], f"{what}, row 0 (position 0)",
                     "Position 0 has angle 0, so RoPE must leave it unchanged: are your positions shifted by one "
                     "(e.g. cos[1:seq+1] instead of cos[:seq])?", atol=1e-5)

    # The relative-offset property: <rope(q, m), rope(k, n)> depends only on m - n.
    q, k = torch.randn(head_dim, dtype=torch.float64, generator=g), torch.randn(head_dim, dtype=torch.float64, generator=g)
    _expect_relative(impl, q, k, cos64, sin64, [0, 3, 1, 2, 5, 0], [0, 1, 4, 2, 0, 5], (1, 2), 1e-6)
    offsets = _scores(impl, q, k, cos64, sin64, [0, 0, 0, 0], [0, 1, 2, 3])
    expect(float(offsets.max() - offsets.min()) > 1e-6,
           "the score <rope(q, 0), rope(k, n)> is the same for n = 0, 1, 2, 3: the rotation does not depend on the "
           "position. With positions=..., use cos[positions] and sin[positions] (the rows for those positions)")

    # The worked example, literally.
    what = "apply_rope(x, cos, sin) for the 4 x 4 example x (positions 0..3)"
    out = impl.apply_rope(ROPE_EXAMPLE_X.float(), cos32, sin32)
    _expect_tensor(out, (4, 4), torch.float32, what)
    if _matches(out, ROPE_EXAMPLE_MINUS_ANGLE):
        raise CheckFailed(f"{what}: this rotates by minus the angle: rotate_half(x) must be cat([-x2, x1], dim=-1), "
                          "so that out[j] = x1 * cos - x2 * sin and out[j + head_dim/2] = x2 * cos + x1 * sin")
    if _matches(out, ROPE_EXAMPLE_SHIFTED):
        raise CheckFailed(f"{what}: the positions are shifted by one: row t of x is at position t, so use "
                          "cos[:seq] and sin[:seq]")
    _close_with_hint(out, ROPE_EXAMPLE_OUT.float(), what, ROPE_VALUES_HINT, atol=1e-5)

    # Explicit positions, in any order, give the rows of those positions.
    out = impl.apply_rope(ROPE_EXAMPLE_X.float(), cos32, sin32, positions=torch.tensor([7, 2, 2, 0]))
    _close_with_hint(out, ROPE_EXAMPLE_OUT_AT_7220.float(), "apply_rope(x, cos, sin, positions=[7, 2, 2, 0])",
                     "With positions given, row t of x is rotated by the angles of position positions[t]: "
                     "use cos[positions] and sin[positions].", atol=1e-5)

    # Device and dtype: everything stays where and as x is.
    device = get_device()
    x_d = torch.randn(2, 5, head_dim, generator=g).to(device)
    out = impl.apply_rope(x_d, cos32.to(device), sin32.to(device))
    _expect_tensor(out, (2, 5, head_dim), torch.float32, f"apply_rope on {device}")
    _expect_on(out, device, f"apply_rope(x, cos, sin) with x on {device}", "keep every tensor on x's device")
    out64 = impl.apply_rope(ROPE_EXAMPLE_X, cos32, sin32)
    expect(isinstance(out64, torch.Tensor) and out64.dtype == torch.float64,
           f"apply_rope(x, cos, sin) with a float64 x and float32 tables returned "
           f"{out64.dtype if isinstance(out64, torch.Tensor) else _kind(out64)}: convert cos and sin to x.dtype, so the result keeps x's dtype")
    out64 = impl.apply_rope(ROPE_EXAMPLE_X, cos64, sin64)
    _close_with_hint(out64, ROPE_EXAMPLE_OUT, "apply_rope(x, cos, sin) with float64 x and tables",
                     "In float64 the result must be accurate to float64 precision: do not convert anything to "
                     "float32 (convert cos and sin to x.dtype).", atol=1e-10, rtol=0)

    # A larger head and far positions, with the tables of rope_frequencies(8, 64). When graded,
    # rope_frequencies is held fixed to a correct version, so that a bug there costs only its own
    # check; in your own copy your rope_frequencies is used, after a check of its first rows.
    try:
        with hold_fixed("positional", impl, "rope_frequencies"):
            tables = impl.rope_frequencies(8, 64, dtype=torch.float64)
    except StudentError as err:
        if not err.not_implemented:
            raise
        raise CheckFailed("the last part of this check uses your rope_frequencies, which is not implemented yet: "
                          "make check(\"positional.rope_frequencies\") pass first") from None
    cos8, sin8 = _expect_pair(tables, "rope_frequencies(8, 64, dtype=torch.float64)")
    expect(isinstance(cos8, torch.Tensor) and isinstance(sin8, torch.Tensor)
           and _matches(cos8[:4], ROPE8_COS, atol=1e-8) and _matches(sin8[:4], ROPE8_SIN, atol=1e-8),
           "the last part of this check uses your rope_frequencies(8, 64, dtype=torch.float64), which returns "
           "wrong tables: make check(\"positional.rope_frequencies\") pass first")
    q, k = torch.randn(8, dtype=torch.float64, generator=g), torch.randn(8, dtype=torch.float64, generator=g)
    _expect_relative(impl, q, k, cos8, sin8, [0, 3, 7, 10, 20, 5], [0, 1, 9, 10, 2, 30], (1, 5, 17, 33), 1e-9)
    x = torch.randn(3, 64, 8, dtype=torch.float64, generator=g)
    out = impl.apply_rope(x, cos8, sin8)
    _expect_tensor(out, (3, 64, 8), torch.float64, "apply_rope(x, cos, sin) for x of shape (3, 64, 8), float64")
    _close_with_hint(out.norm(dim=-1), x.norm(dim=-1), "the norms of apply_rope(x, cos, sin) for x of shape (3, 64, 8)",
                     "RoPE rotates pairs (x[..., j], x[..., j + head_dim/2]) and must keep lengths.", atol=1e-10, rtol=0)
