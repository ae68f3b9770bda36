"""Hidden checks for notebook 03 (positional encodings): instructor side only.

Same names as the public checks; fresh random sizes, seeds and bases, edge sizes, batch and head
dimensions, float64 inputs, and the comparisons with full implementations of the formulas (which
the public checks, shipped to students, must not contain: they compare with literal values).
Self-contained: the expected values are computed here (nothing is imported from solutions/, which
the grader's sandbox hides).

`ORACLES` holds correct implementations of the exercises, used by `hold_fixed` in the public
checks (e.g. the apply_rope check holds rope_frequencies fixed), so a bug costs one exercise only.
What needs the learner's real objects (nn.Parameter, parameters(), gradients) goes through the
public probes of ``course_lib.checks.positional``.
"""

from __future__ import annotations

import math
import random

import torch

from course_lib.checks import CheckFailed, expect, expect_close, expect_equal, expect_raises, expect_type, hidden_check
from course_lib.checks.positional import forward_backward, module_facts


def _device() -> torch.device:
    try:
        from course_lib.device import get_device

        return get_device()
    except Exception:  # noqa: BLE001 - a broken device helper must not break grading
        return torch.device("cpu")


def _close(got, expected, what: str, hint: str, atol: float) -> None:
    try:
        expect_close(got, expected, what, atol=atol, rtol=0)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}") from None


def _raises(function, exception: type[BaseException], what: str) -> None:
    expect_raises(function, exception, what)


def _tensor(got, shape, dtype, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    expect_equal(tuple(got.shape), tuple(shape), f"{what}.shape")
    expect(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype}")


# ---------------------------------------------------------------------------------------------
# Oracles: correct implementations of the exercises (same signatures as the exercises)
# ---------------------------------------------------------------------------------------------

def _oracle_sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0, *,
                             dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    if max_len <= 0 or d_model <= 0:
        raise ValueError(f"max_len and d_model must be positive, got max_len={max_len}, d_model={d_model}")
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even, got {d_model}")
    if base <= 0:
        raise ValueError(f"base must be positive, got {base}")
    speeds = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(base) / d_model))
    angle = torch.arange(max_len, dtype=torch.float64)[:, None] * speeds[None, :]  # (max_len, d_model/2)
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(max_len, d_model)  # sin, cos, sin, ...
    return table.to(dtype=dtype).to(device=device)


def _oracle_rope_frequencies(head_dim: int, max_len: int, base: float = 10000.0, *,
                             dtype: torch.dtype = torch.float32, device=None):
    if head_dim <= 0 or max_len <= 0:
        raise ValueError(f"head_dim and max_len must be positive, got head_dim={head_dim}, max_len={max_len}")
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    if base <= 0:
        raise ValueError(f"base must be positive, got {base}")
    speeds = torch.exp(torch.arange(0, head_dim, 2, dtype=torch.float64) * (-math.log(base) / head_dim))
    angle = torch.outer(torch.arange(max_len, dtype=torch.float64), speeds).repeat(1, 2)  # both halves
    return (angle.cos().to(dtype=dtype).to(device=device), angle.sin().to(dtype=dtype).to(device=device))


def _oracle_apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                       positions: torch.Tensor | None = None) -> torch.Tensor:
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., seq, head_dim), got shape {tuple(x.shape)}")
    seq, head_dim = x.shape[-2], x.shape[-1]
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even, got x of shape {tuple(x.shape)}")
    if cos.shape != sin.shape or cos.dim() != 2 or cos.shape[-1] != head_dim:
        raise ValueError(f"cos and sin must have shape (max_len, {head_dim}), got {tuple(cos.shape)}, {tuple(sin.shape)}")
    if positions is None:
        if seq > cos.shape[0]:
            raise ValueError(f"sequence of length {seq} is longer than the tables' max_len={cos.shape[0]}")
        rows = torch.arange(seq, device=cos.device)
    else:
        if positions.dim() != 1 or positions.shape[0] != seq:
            raise ValueError(f"positions must have shape ({seq},), got {tuple(positions.shape)}")
        rows = positions.to(cos.device)
    c = cos.index_select(0, rows).to(device=x.device, dtype=x.dtype)
    s = sin.index_select(0, rows).to(device=x.device, dtype=x.dtype)
    half = head_dim // 2
    first, second = x.split(half, dim=-1)
    c1, s1 = c[:, :half], s[:, :half]
    return torch.cat([first * c1 - second * s1, second * c1 + first * s1], dim=-1)


ORACLES = {
    "sinusoidal_table": _oracle_sinusoidal_table,
    "rope_frequencies": _oracle_rope_frequencies,
    "apply_rope": _oracle_apply_rope,
}


# ---------------------------------------------------------------------------------------------
# Independent formulas for the expected values
# ---------------------------------------------------------------------------------------------

def _sinusoid(max_len: int, d_model: int, base: float) -> torch.Tensor:
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos * math.exp(-(2 * i / d_model) * math.log(base))
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def _rope_rotate(x: torch.Tensor, positions: list[int], base: float) -> torch.Tensor:
    """Rotate pair (j, j + d/2) of row t by positions[t] * base^(-2j/d), written out with 2x2 rotations."""
    x = x.detach().to("cpu", torch.float64)
    d = x.shape[-1]
    half = d // 2
    out = torch.empty_like(x)
    for t, pos in enumerate(positions):
        for j in range(half):
            angle = pos * base ** (-2 * j / d)
            c, s = math.cos(angle), math.sin(angle)
            a, b = x[..., t, j], x[..., t, j + half]
            out[..., t, j] = a * c - b * s
            out[..., t, j + half] = a * s + b * c
    return out


def _rope_tables(head_dim: int, max_len: int, base: float):
    half = head_dim // 2
    angles = torch.tensor([[pos * base ** (-2 * (c % half) / head_dim) for c in range(head_dim)]
                           for pos in range(max_len)], dtype=torch.float64)
    return angles.cos(), angles.sin()


# ---------------------------------------------------------------------------------------------

@hidden_check("positional.sinusoidal_table", timeout=20)
def hidden_sinusoidal_random_sizes(impl) -> None:
    """Random sizes and bases, float32 and float64, match the formula."""
    rng = random.Random(2031)
    for _ in range(4):
        max_len, d_model = rng.randint(1, 70), 2 * rng.randint(1, 24)
        base = rng.choice([10.0, 100.0, 10000.0, 123456.0])
        what = f"sinusoidal_table({max_len}, {d_model}, base={base}, dtype=torch.float64)"
        got = impl.sinusoidal_table(max_len, d_model, base=base, dtype=torch.float64)
        _tensor(got, (max_len, d_model), torch.float64, what)
        _close(got, _sinusoid(max_len, d_model, base), what,
               "Expected PE[pos, 2i] = sin(pos / base ** (2i/d_model)), PE[pos, 2i+1] = cos(same), in float64", 1e-9)
        got32 = impl.sinusoidal_table(max_len, d_model, base)
        _tensor(got32, (max_len, d_model), torch.float32, f"sinusoidal_table({max_len}, {d_model}, {base})")
        _close(got32, _sinusoid(max_len, d_model, base).float(), f"sinusoidal_table({max_len}, {d_model}, {base})",
               "float32 table differs from the formula", 1e-5)


@hidden_check("positional.sinusoidal_table", timeout=20)
def hidden_sinusoidal_edges(impl) -> None:
    """Edge sizes, other dtypes and the device, and errors for bad sizes."""
    one = impl.sinusoidal_table(1, 2)
    _tensor(one, (1, 2), torch.float32, "sinusoidal_table(1, 2)")
    _close(one, torch.tensor([[0.0, 1.0]]), "sinusoidal_table(1, 2)", "position 0 is [sin 0, cos 0] = [0, 1]", 1e-7)
    wide = impl.sinusoidal_table(3, 512)
    _close(wide, _sinusoid(3, 512, 10000.0).float(), "sinusoidal_table(3, 512)", "wrong values for d_model=512", 1e-5)
    bf = impl.sinusoidal_table(5, 4, dtype=torch.bfloat16)
    _tensor(bf, (5, 4), torch.bfloat16, "sinusoidal_table(5, 4, dtype=torch.bfloat16)")
    device = _device()
    on = impl.sinusoidal_table(33, 10, base=50.0, device=device)
    expect(on.device.type == device.type, f"sinusoidal_table(..., device={device}) is on {on.device}")
    _close(on.cpu(), _sinusoid(33, 10, 50.0).float(), f"sinusoidal_table(33, 10, base=50.0, device={device})",
           "values differ on the device", 1e-5)
    for args in ((4, 3), (4, 1), (0, 4), (-2, 4), (4, 0), (4, -6)):
        _raises(lambda args=args: impl.sinusoidal_table(*args), ValueError, f"sinusoidal_table{args}")


@hidden_check("positional.learned_positions", timeout=20)
def hidden_learned_random_sizes(impl) -> None:
    """Random sizes, seq == max_len, extra batch dims, gradients and errors."""
    rng = random.Random(77)
    for _ in range(3):
        max_len, d_model = rng.randint(1, 40), rng.randint(1, 24)
        torch.manual_seed(rng.randint(0, 10**6))
        emb = impl.LearnedPositionalEmbedding(max_len, d_model)
        facts = module_facts(emb)
        expect(facts["weight_is_parameter"], "self.weight must be an nn.Parameter")
        expect_equal(facts["weight_shape"], (max_len, d_model), f"LearnedPositionalEmbedding({max_len}, {d_model}).weight.shape")
        expect_equal(facts["parameter_count"], max_len * d_model,
                     f"the number of parameters of LearnedPositionalEmbedding({max_len}, {d_model})")
        expect("weight" in facts["state_dict_keys"], "state_dict() has no 'weight': register the table as an nn.Parameter")
        weight = emb.weight
        for shape in ((2, max_len, d_model), (2, 3, rng.randint(1, max_len), d_model), (rng.randint(1, max_len), d_model)):
            x = torch.randn(*shape)
            out = emb(x)
            seq = shape[-2]
            _close(out, x + weight[:seq], f"embedding(x) for x of shape {shape}", "expected x + weight[:seq]", 1e-6)
        x = torch.randn(4, max_len, d_model)
        # The gradient of embedding(x).pow(2).sum() is 2 * embedding(x) = 2 * (x + weight).
        report = forward_backward(emb, x, 2 * (x + weight))
        expect(report["requires_grad"], "embedding(x) does not require grad: compute it from self.weight itself")
        expected_grad = (2 * (x + weight)).sum(0)
        expect(report["weight_grad"] is not None, "weight.grad is None after embedding(x).pow(2).sum().backward()")
        _close(report["weight_grad"], expected_grad, "weight.grad after embedding(x).pow(2).sum().backward()",
               "gradients must flow into self.weight", 1e-4)
        _raises(lambda: emb(torch.randn(1, max_len + 1, d_model)), ValueError, f"embedding(x) with seq={max_len + 1} > max_len")
        _raises(lambda: emb(torch.randn(1, 1, d_model + 1)), ValueError, "embedding(x) with the wrong last dimension")


@hidden_check("positional.learned_positions", timeout=20)
def hidden_learned_device_and_dtype(impl) -> None:
    """On the device under test, and converted to float64 with .double()."""
    device = _device()
    emb = impl.LearnedPositionalEmbedding(12, 6).to(device)
    x = torch.randn(3, 12, 6, device=device)
    out = emb(x)
    expect(out.device.type == device.type, f"embedding(x) with x on {device} returned a tensor on {out.device}")
    _close(out.cpu(), (x + emb.weight).cpu(), f"embedding(x) on {device}", "expected x + weight[:seq]", 1e-6)
    emb64 = impl.LearnedPositionalEmbedding(5, 4).double()
    out64 = emb64(torch.randn(2, 5, 4, dtype=torch.float64))
    _tensor(out64, (2, 5, 4), torch.float64, "a .double() embedding applied to a float64 x")
    _raises(lambda: impl.LearnedPositionalEmbedding(8, 4)(torch.randn(8)), ValueError, "embedding(x) for a 1-D x")


@hidden_check("positional.rope_frequencies", timeout=20)
def hidden_rope_frequencies_random(impl) -> None:
    """Random head sizes, lengths and bases in float64, edge sizes, device, errors."""
    rng = random.Random(4242)
    for _ in range(4):
        head_dim, max_len = 2 * rng.randint(1, 32), rng.randint(1, 80)
        base = rng.choice([100.0, 10000.0, 500000.0, 1234.5])
        what = f"rope_frequencies({head_dim}, {max_len}, base={base}, dtype=torch.float64)"
        result = impl.rope_frequencies(head_dim, max_len, base=base, dtype=torch.float64)
        expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} must return (cos, sin)")
        expected_cos, expected_sin = _rope_tables(head_dim, max_len, base)
        for name, got, expected in (("cos", result[0], expected_cos), ("sin", result[1], expected_sin)):
            _tensor(got, (max_len, head_dim), torch.float64, f"{what} ({name})")
            _close(got, expected, f"{what} ({name})",
                   "expected angle[pos, c] = pos * base ** (-2 (c mod head_dim/2) / head_dim), rotate-half layout", 1e-9)
    cos, sin = impl.rope_frequencies(2, 1)
    _close(cos, torch.ones(1, 2), "rope_frequencies(2, 1) cos", "position 0 has angle 0", 1e-7)
    _close(sin, torch.zeros(1, 2), "rope_frequencies(2, 1) sin", "position 0 has angle 0", 1e-7)
    device = _device()
    cos, sin = impl.rope_frequencies(16, 9, device=device, dtype=torch.float16)
    for name, got in (("cos", cos), ("sin", sin)):
        _tensor(got, (9, 16), torch.float16, f"rope_frequencies(16, 9, dtype=torch.float16) ({name})")
        expect(got.device.type == device.type, f"rope_frequencies(..., device={device}) {name} is on {got.device}")
    for args in ((3, 4), (0, 4), (4, 0), (-4, 3)):
        _raises(lambda args=args: impl.rope_frequencies(*args), ValueError, f"rope_frequencies{args}")


@hidden_check("positional.apply_rope", timeout=20)
def hidden_apply_rope_random(impl) -> None:
    """Random batch/head shapes, float64 inputs keep their dtype, and values match 2x2 rotations."""
    rng = random.Random(99)
    torch.manual_seed(99)
    for _ in range(3):
        batch, heads, seq, head_dim = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 9), 2 * rng.randint(1, 6)
        base = rng.choice([10000.0, 500.0])
        max_len = seq + rng.randint(0, 5)
        cos, sin = _rope_tables(head_dim, max_len, base)
        x = torch.randn(batch, heads, seq, head_dim, dtype=torch.float64)
        what = f"apply_rope(x of shape {tuple(x.shape)}, float64)"
        out = impl.apply_rope(x, cos, sin)
        _tensor(out, x.shape, torch.float64, what)
        _close(out, _rope_rotate(x, list(range(seq)), base), what,
               "expected pair (j, j + head_dim/2) of row t rotated by t * base ** (-2j/head_dim)", 1e-10)
        positions = [rng.randint(0, max_len - 1) for _ in range(seq)]
        out = impl.apply_rope(x.float(), cos.float(), sin.float(), positions=torch.tensor(positions))
        _tensor(out, x.shape, torch.float32, f"apply_rope(float32 x, positions={positions})")
        _close(out, _rope_rotate(x, positions, base).float(), f"apply_rope(x, positions={positions})",
               "row t must be rotated by the angles of position positions[t]", 1e-5)


@hidden_check("positional.apply_rope", timeout=20)
def hidden_apply_rope_properties(impl) -> None:
    """Relative-offset identity at large shifts, norms, 2-D and non-contiguous x, device."""
    torch.manual_seed(5)
    head_dim, max_len = 12, 300
    cos, sin = _rope_tables(head_dim, max_len, 10000.0)
    q, k = torch.randn(head_dim, dtype=torch.float64), torch.randn(head_dim, dtype=torch.float64)
    rng = random.Random(5)
    m = [rng.randint(0, 100) for _ in range(8)]
    n = [rng.randint(0, 100) for _ in range(8)]

    def scores(ms, ns):
        rq = impl.apply_rope(q.expand(len(ms), -1).clone(), cos, sin, positions=torch.tensor(ms))
        rk = impl.apply_rope(k.expand(len(ns), -1).clone(), cos, sin, positions=torch.tensor(ns))
        return (rq * rk).sum(-1).detach()

    reference = scores(m, n)
    for shift in (2, 33, 150, 199):
        shifted = scores([a + shift for a in m], [b + shift for b in n])
        diff = float((shifted - reference).abs().max())
        expect(diff < 1e-8, f"<rope(q, m), rope(k, n)> changed by {diff:.3g} when m and n were both shifted by {shift}: "
               "the score must depend on m - n only")
    x = torch.randn(7, head_dim, dtype=torch.float64)
    out = impl.apply_rope(x, cos, sin)
    _close(out.norm(dim=-1), x.norm(dim=-1), "the norms of apply_rope(x) for a 2-D x", "RoPE must keep lengths", 1e-10)
    _close(out, _rope_rotate(x, list(range(7)), 10000.0), "apply_rope(x) for x of shape (7, 12)",
           "wrong rotation for a 2-D x", 1e-10)
    wide = torch.randn(4, 5, head_dim, dtype=torch.float64).transpose(0, 1)  # (5, 4, 12), not contiguous
    out = impl.apply_rope(wide, cos, sin)
    _close(out, _rope_rotate(wide, list(range(4)), 10000.0), "apply_rope(x) for a non-contiguous x",
           "wrong rotation for a non-contiguous x", 1e-10)
    two = torch.randn(3, 2, dtype=torch.float64)
    cos2, sin2 = _rope_tables(2, 3, 10000.0)
    _close(impl.apply_rope(two, cos2, sin2), _rope_rotate(two, [0, 1, 2], 10000.0), "apply_rope with head_dim=2",
           "wrong rotation for head_dim=2", 1e-10)
    device = _device()
    xd = torch.randn(2, 3, 6, head_dim, device=device)
    out = impl.apply_rope(xd, cos.float().to(device), sin.float().to(device))
    expect(out.device.type == device.type and out.dtype == torch.float32,
           f"apply_rope on {device} returned {out.dtype} on {out.device}")
    _close(out.cpu(), _rope_rotate(xd.cpu(), list(range(6)), 10000.0).float(), f"apply_rope on {device}",
           "values differ on the device", 1e-5)


# ---------------------------------------------------------------------------------------------
# Comparisons with full implementations of the formulas (moved here from the public checks,
# which students receive and which therefore compare with literal values only)
# ---------------------------------------------------------------------------------------------

SINUSOID_HINT = ("Expected PE[pos, 2i] = sin(pos / base ** (2i / d_model)) and PE[pos, 2i+1] = cos(the same "
                 "angle), where i = 0 .. d_model/2 - 1 is the pair index.")
ROPE_TABLE_HINT = ("Expected cos[pos, c] = cos(pos * base ** (-2j / head_dim)) with j = c mod (head_dim/2) "
                   "(rotate-half layout: column c and c + head_dim/2 share one angle), and the same for sin.")


def _matches(got, candidate: torch.Tensor, atol: float = 1e-4) -> bool:
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g = got.detach().to("cpu", torch.float64)
    return bool(((g - candidate.to(torch.float64)).abs() <= atol).all())


def _diagnose(got, mistakes: list[tuple[torch.Tensor, str]], what: str) -> None:
    for candidate, message in mistakes:
        if _matches(got, candidate):
            raise CheckFailed(f"{what}: {message}")


def _sinusoid_mistakes(max_len: int, d_model: int, base: float) -> list[tuple[torch.Tensor, str]]:
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    right = pos / base ** (2 * i / d_model)

    def interleave(even, odd):
        out = torch.empty(max_len, d_model, dtype=torch.float64)
        out[:, 0::2], out[:, 1::2] = even, odd
        return out

    per_column = pos / base ** (torch.arange(d_model, dtype=torch.float64) / d_model)
    return [
        (interleave(right.cos(), right.sin()),
         "sin and cos are swapped: the even columns (0, 2, 4, ...) must hold sin, the odd columns cos. "
         "Row 0 (position 0) should read 0, 1, 0, 1, ..."),
        (torch.cat([right.sin(), right.cos()], dim=-1),
         "all the sines come first and all the cosines after; interleave them instead: table[:, 0::2] = sin, "
         "table[:, 1::2] = cos"),
        (interleave((pos / base ** (i / d_model)).sin(), (pos / base ** (i / d_model)).cos()),
         "the exponent should be 2i/d_model with i the pair index (i.e. torch.arange(0, d_model, 2) / d_model); "
         "you used i/d_model, so the frequencies only go half-way down"),
        (interleave(per_column[:, 0::2].sin(), per_column[:, 1::2].cos()),
         "the sin column 2i and its cos partner 2i+1 must share ONE frequency base ** (-2i/d_model); "
         "you gave each column its own exponent"),
        (interleave((pos * base ** (2 * i / d_model)).sin(), (pos * base ** (2 * i / d_model)).cos()),
         "divide the position by base ** (2i/d_model) (equivalently multiply by base ** (-2i/d_model)); "
         "you multiplied, so the clocks speed up instead of slowing down"),
    ]


@hidden_check("positional.sinusoidal_table", timeout=20)
def hidden_sinusoidal_formula(impl) -> None:
    """Matches the formula (computed in float64) at 50 x 16, and at base 100 to float64 precision."""
    what = "sinusoidal_table(50, 16)"
    table = impl.sinusoidal_table(50, 16)
    _tensor(table, (50, 16), torch.float32, what)
    _diagnose(table, _sinusoid_mistakes(50, 16, 10000.0), what)
    _close(table, _sinusoid(50, 16, 10000.0).float(), what, SINUSOID_HINT, 1e-5)

    what = "sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)"
    table64 = impl.sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)
    _tensor(table64, (40, 12), torch.float64, what)
    expected64 = _sinusoid(40, 12, 100.0)
    _diagnose(table64, _sinusoid_mistakes(40, 12, 100.0), what)
    _close(table64, expected64, what, SINUSOID_HINT + " Use the `base` argument, not a hard-coded 10000.", 1e-4)
    _close(table64, expected64, what, "The values are right only to float32 precision: compute the angles in "
           "float64 (torch.arange(..., dtype=torch.float64)) and convert at the end.", 1e-10)


def _rope_angles(head_dim: int, max_len: int, base: float) -> torch.Tensor:
    """angle[pos, j] = pos * base^(-2j/head_dim) for pair j < head_dim/2, in float64: (max_len, head_dim/2)."""
    exponents = torch.tensor([2 * j / head_dim for j in range(head_dim // 2)], dtype=torch.float64)
    return torch.arange(max_len, dtype=torch.float64)[:, None] * torch.tensor(base, dtype=torch.float64) ** -exponents


def _rope_table_mistakes(head_dim: int, max_len: int, base: float, which: str) -> list[tuple[torch.Tensor, str]]:
    angles = _rope_angles(head_dim, max_len, base)
    func = torch.cos if which == "cos" else torch.sin
    other = torch.sin if which == "cos" else torch.cos
    half_exponent = torch.arange(max_len, dtype=torch.float64)[:, None] * base ** (
        -torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)
    return [
        (func(angles.repeat_interleave(2, dim=-1)),
         "the angles are in the interleaved layout (repeat_interleave: columns 2j and 2j+1 share an angle), but "
         "this course pairs coordinate j with j + head_dim/2 (rotate-half): use torch.cat([angles, angles], dim=-1)"),
        (other(torch.cat([angles, angles], dim=-1)),
         "cos and sin are swapped: return (cos, sin) in that order"),
        (func(torch.cat([half_exponent, half_exponent], dim=-1)),
         "the exponent should be 2j/head_dim (torch.arange(0, head_dim, 2) / head_dim); you used j/head_dim"),
    ]


@hidden_check("positional.rope_frequencies", timeout=20)
def hidden_rope_frequencies_formula(impl) -> None:
    """Matches the formula (computed in float64) at 8 x 20, and at base 500000 to float64 precision."""
    for head_dim, max_len, base, dtype, atol in ((8, 20, 10000.0, torch.float32, 1e-5),
                                                 (6, 30, 500000.0, torch.float64, 1e-10)):
        what = f"rope_frequencies({head_dim}, {max_len}, base={base}, dtype={dtype})"
        result = impl.rope_frequencies(head_dim, max_len, base=base, dtype=dtype)
        expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} must return (cos, sin)")
        expected_cos, expected_sin = _rope_tables(head_dim, max_len, base)
        for name, got, expected in (("cos", result[0], expected_cos), ("sin", result[1], expected_sin)):
            _tensor(got, (max_len, head_dim), dtype, f"{what} ({name})")
            _diagnose(got, _rope_table_mistakes(head_dim, max_len, base, name), f"{what} ({name})")
            _close(got, expected.to(dtype), f"{what} ({name})", ROPE_TABLE_HINT, max(atol, 1e-5))
            _close(got, expected.to(dtype), f"{what} ({name})", "The values are right only to float32 precision: "
                   "compute the angles in float64 and convert at the end.", atol)


def _rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0, *, sign: float = 1.0) -> torch.Tensor:
    """RoPE as complex multiplication, independent of any cos/sin table layout (float64).

    Pair j (rotate-half pairing) is the complex number x[j] + i x[j + head_dim/2]; it is multiplied
    by e^{i * sign * position * theta_j}, which turns it by that angle.
    """
    x = x.detach().to("cpu", torch.float64)
    half = x.shape[-1] // 2
    angles = _rope_angles(x.shape[-1], int(positions.max()) + 1, base)[positions.cpu()]  # (seq, half)
    turn = torch.polar(torch.ones_like(angles), sign * angles)
    z = torch.view_as_complex(torch.stack([x[..., :half], x[..., half:]], dim=-1).contiguous()) * turn
    return torch.cat([z.real, z.imag], dim=-1)


@hidden_check("positional.apply_rope", timeout=20)
def hidden_apply_rope_polar(impl) -> None:
    """Equals RoPE as multiplication by e^{i * position * theta_j} (complex numbers), with targeted messages."""
    torch.manual_seed(3)
    head_dim, max_len = 8, 64
    cos64, sin64 = _rope_tables(head_dim, max_len, 10000.0)
    cos32, sin32 = cos64.float(), sin64.float()
    x = torch.randn(2, 3, 6, head_dim)
    what = "apply_rope(x, cos, sin) for x of shape (2, 3, 6, 8)"
    out = impl.apply_rope(x, cos32, sin32)
    _tensor(out, (2, 3, 6, 8), torch.float32, what)
    positions = torch.arange(6)
    mistakes = [
        (_rope_complex(x, positions, sign=-1.0),
         "this rotates by minus the angle: rotate_half(x) must be cat([-x2, x1], dim=-1), so that out[j] = "
         "x1 * cos - x2 * sin and out[j + head_dim/2] = x2 * cos + x1 * sin"),
        (_rope_complex(x, positions + 1),
         "the positions are shifted by one: row t of x is at position t, so use cos[:seq] and sin[:seq]"),
    ]
    _diagnose(out, mistakes, what)
    _close(out, _rope_complex(x, positions).float(), what,
           "Expected out[..., j] = x1 * c - x2 * s and out[..., j + head_dim/2] = x2 * c + x1 * s with "
           "x1 = x[..., j], x2 = x[..., j + head_dim/2], c = cos[pos, j], s = sin[pos, j].", 1e-5)
    chosen = torch.tensor([9, 2, 2, 40, 0, 13])
    out = impl.apply_rope(x, cos32, sin32, positions=chosen)
    _close(out, _rope_complex(x, chosen).float(), "apply_rope(x, cos, sin, positions=[9, 2, 2, 40, 0, 13])",
           "With positions given, row t of x is rotated by the angles of position positions[t]: "
           "use cos[positions] and sin[positions].", 1e-5)
    x64 = torch.randn(3, head_dim, dtype=torch.float64)
    out64 = impl.apply_rope(x64, cos64, sin64)
    _tensor(out64, (3, head_dim), torch.float64, "apply_rope(x, cos, sin) with float64 x and tables")
    _close(out64, _rope_complex(x64, torch.arange(3)), "apply_rope(x, cos, sin) with float64 x and tables",
           "In float64 the result must be accurate to float64 precision: do not convert anything to float32.", 1e-10)
