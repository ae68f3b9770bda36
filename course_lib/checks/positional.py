"""Public checks for notebook 03 (positional encodings): ``check("positional.sinusoidal_table")``.

Each check gets the module under test as `impl` and never imports a reference solution. The
expected values are computed here independently: the sinusoidal formula with Python's `math` in
float64, RoPE as a multiplication by complex numbers ``e^{i * angle}`` (``torch.polar``), and the
properties that make RoPE useful (rotations keep lengths; scores depend on m - n only).
Numerical comparisons run on the CPU; the device checks run on `get_device()` (the device under
test: ``COURSE_DEVICE`` or ``pytest --device``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.checks.framework import CheckFailed, expect, expect_close, expect_equal, public_check
from course_lib.device import get_device

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _close_with_hint(got, expected, what: str, hint: str, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`expect_close`, with a reminder of what the right answer is appended to the failure."""
    try:
        expect_close(got, expected, what, atol=atol, rtol=rtol)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. {hint}") from None


def _matches(got: torch.Tensor, candidate: torch.Tensor, atol: float = 1e-4) -> bool:
    """True if `got` has `candidate`'s shape and values (used to recognise a known mistake)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(candidate.shape):
        return False
    g = got.detach().to("cpu", torch.float64)
    return bool(((g - candidate.to(torch.float64)).abs() <= atol).all())


def _diagnose(got: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]], what: str) -> None:
    """Raise a targeted message if `got` equals one of the known wrong answers."""
    for candidate, message in mistakes:
        if _matches(got, candidate):
            raise CheckFailed(f"{what}: {message}")


def _expect_raises(function, exception: type[BaseException], what: str, advice: str) -> None:
    try:
        function()
    except exception:
        return
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - the learner's code raised the wrong kind of error
        raise CheckFailed(f"{what} raised {type(err).__name__} ({err}); expected a {exception.__name__}. "
                          f"{advice}") from None
    raise CheckFailed(f"{what} did not raise a {exception.__name__}. {advice}")


def _expect_tensor(got, shape: tuple[int, ...], dtype: torch.dtype, what: str) -> None:
    expect(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}, expected a torch.Tensor")
    expect_equal(tuple(got.shape), shape, f"{what}.shape")
    expect(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype}: convert the result "
           f"with .to(dtype=dtype) (or do the arithmetic in that dtype)")


def _expect_on(got: torch.Tensor, device: torch.device, what: str, advice: str) -> None:
    expect(got.device.type == device.type,
           f"{what} is on {got.device}, expected {device.type}: {advice}")


def sinusoid_formula(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(...), element by element in float64."""
    rows = []
    for pos in range(max_len):
        row = []
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


def rope_angles(head_dim: int, max_len: int, base: float = 10000.0) -> torch.Tensor:
    """angle[pos, j] = pos * base^(-2j/head_dim) for pair j < head_dim/2, in float64: (max_len, head_dim/2)."""
    half = head_dim // 2
    exponents = torch.tensor([2 * j / head_dim for j in range(half)], dtype=torch.float64)
    return torch.arange(max_len, dtype=torch.float64)[:, None] * torch.tensor(base, dtype=torch.float64) ** -exponents


def rope_tables(head_dim: int, max_len: int, base: float = 10000.0):
    """(cos, sin) in the rotate-half layout, float64: column c belongs to pair c mod head_dim/2."""
    angles = rope_angles(head_dim, max_len, base)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0, *, sign: float = 1.0) -> torch.Tensor:
    """RoPE as complex multiplication, independent of any cos/sin table layout (float64).

    Pair j (rotate-half pairing) is the complex number x[j] + i x[j + head_dim/2]; it is multiplied
    by e^{i * sign * position * theta_j}, which turns it by that angle.
    """
    x = x.detach().to("cpu", torch.float64)
    head_dim = x.shape[-1]
    half = head_dim // 2
    angles = rope_angles(head_dim, int(positions.max()) + 1, base)[positions.cpu()]  # (seq, half)
    turn = torch.polar(torch.ones_like(angles), sign * angles)
    z = torch.view_as_complex(torch.stack([x[..., :half], x[..., half:]], dim=-1).contiguous()) * turn
    return torch.cat([z.real, z.imag], dim=-1)


# ---------------------------------------------------------------------------------------------
# §1 sinusoidal_table
# ---------------------------------------------------------------------------------------------

SINUSOID_HINT = ("Expected PE[pos, 2i] = sin(pos / base ** (2i / d_model)) and PE[pos, 2i+1] = cos(the same "
                 "angle), where i = 0 .. d_model/2 - 1 is the pair index.")


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


@public_check("positional.sinusoidal_table")
def check_sinusoidal_table(impl) -> None:
    """The sinusoidal table matches its formula (computed in float64), with the right shape, dtype and device."""
    table = impl.sinusoidal_table(50, 16)
    _expect_tensor(table, (50, 16), torch.float32, "sinusoidal_table(50, 16)")
    expect(not torch.isnan(table.detach().cpu()).any(), "sinusoidal_table(50, 16) contains NaN values")
    _diagnose(table, _sinusoid_mistakes(50, 16, 10000.0), "sinusoidal_table(50, 16)")
    _close_with_hint(table, sinusoid_formula(50, 16).float(), "sinusoidal_table(50, 16)", SINUSOID_HINT)

    # Another base and float64: the angles must really be computed in float64.
    table64 = impl.sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)
    _expect_tensor(table64, (40, 12), torch.float64, "sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)")
    expected64 = sinusoid_formula(40, 12, base=100.0)
    _diagnose(table64, _sinusoid_mistakes(40, 12, 100.0), "sinusoidal_table(40, 12, base=100.0)")
    _close_with_hint(table64, expected64, "sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)",
                     SINUSOID_HINT + " Use the `base` argument, not a hard-coded 10000.", atol=1e-4, rtol=0)
    _close_with_hint(table64, expected64, "sinusoidal_table(40, 12, base=100.0, dtype=torch.float64)",
                     "The values are right only to float32 precision: build the positions and frequencies "
                     "with dtype=torch.float64 (torch.arange(..., dtype=torch.float64)) and convert at the end, "
                     "instead of computing in float32 and converting the result.", atol=1e-10, rtol=0)

    # dtype and device: the table is built where and as the caller asks.
    device = get_device()
    on_device = impl.sinusoidal_table(8, 6, device=device)
    _expect_tensor(on_device, (8, 6), torch.float32, f"sinusoidal_table(8, 6, device={str(device)!r})")
    _expect_on(on_device, device, f"sinusoidal_table(8, 6, device={str(device)!r})",
               "move the result with .to(device=device)")
    half = impl.sinusoidal_table(8, 6, dtype=torch.float16, device=device)
    _expect_tensor(half, (8, 6), torch.float16, f"sinusoidal_table(8, 6, dtype=torch.float16, device={str(device)!r})")
    _expect_on(half, device, "sinusoidal_table(8, 6, dtype=torch.float16)", "move the result with .to(device=device)")

    advice = "Raise ValueError with a message saying what is wrong (this check is at the top of the function)."
    _expect_raises(lambda: impl.sinusoidal_table(10, 7), ValueError, "sinusoidal_table(10, 7) (odd d_model)", advice)
    _expect_raises(lambda: impl.sinusoidal_table(0, 8), ValueError, "sinusoidal_table(0, 8) (no positions)", advice)


# ---------------------------------------------------------------------------------------------
# §2 LearnedPositionalEmbedding
# ---------------------------------------------------------------------------------------------

@public_check("positional.learned_positions")
def check_learned_positions(impl) -> None:
    """LearnedPositionalEmbedding registers a (max_len, d_model) parameter, adds it to x, lets gradients flow, rejects bad shapes."""
    torch.manual_seed(0)
    embedding = impl.LearnedPositionalEmbedding(16, 8)
    expect(isinstance(embedding, nn.Module), "LearnedPositionalEmbedding must be an nn.Module")
    weight = getattr(embedding, "weight", None)
    expect(weight is not None, "LearnedPositionalEmbedding(16, 8) has no attribute `weight`: store the table "
           "as self.weight = nn.Parameter(...) in __init__")
    expect(isinstance(weight, nn.Parameter),
           f"self.weight is a {type(weight).__name__}, not an nn.Parameter: wrap the tensor in nn.Parameter(...) "
           "so that .parameters() (and so the optimizer, .to(device) and state_dict) see it")
    expect_equal(tuple(weight.shape), (16, 8), "LearnedPositionalEmbedding(16, 8).weight.shape")
    expect(weight.requires_grad, "self.weight does not require gradients: do not create it with requires_grad=False")
    expect(any(p is weight for p in embedding.parameters()),
           "self.weight is not among embedding.parameters(): assign the nn.Parameter to an attribute of the module")
    expect(weight.detach().abs().sum() > 0, "self.weight is all zeros: initialise it randomly, "
           "e.g. torch.randn(max_len, d_model) * init_std")

    x = torch.randn(3, 5, 8)
    x_before = x.clone()
    out = embedding(x)
    expect(isinstance(out, torch.Tensor), f"embedding(x) returned a {type(out).__name__}, expected a torch.Tensor")
    expect(tuple(out.shape) != (3, 5, 16), "embedding(x) has shape (3, 5, 16) for x of shape (3, 5, 8): the "
           "positions must be ADDED to x (x + weight[:seq]), not concatenated to it")
    expect_equal(tuple(out.shape), (3, 5, 8), "embedding(x) for x of shape (3, 5, 8): its shape")
    expect(torch.equal(x, x_before), "embedding(x) modified x in place: return x + ... (a new tensor) instead of x += ...")
    _close_with_hint(out, x + weight.detach()[:5], "embedding(x) for x of shape (3, 5, 8)",
                     "Expected x + self.weight[:seq]: row t of every sequence gets self.weight[t].", atol=1e-6)
    single = embedding(x[0])
    _close_with_hint(single, x[0] + weight.detach()[:5], "embedding(x) for x of shape (5, 8) (one sequence)",
                     "Use x.shape[-2] for the sequence length and let broadcasting handle any batch dims.", atol=1e-6)

    # Gradients reach the table: each of the first 5 rows was used once per sequence (3 times).
    expect(out.requires_grad, "embedding(x) does not require grad although self.weight does: compute the output "
           "from self.weight itself (not self.weight.data, .detach() or under torch.no_grad()), or it will never train")
    out.sum().backward()
    grad = embedding.weight.grad
    expect(grad is not None, "after embedding(x).sum().backward(), self.weight.grad is None: the output must be "
           "computed from self.weight itself (no .detach(), .data or torch.no_grad())")
    expected_grad = torch.zeros(16, 8)
    expected_grad[:5] = 3.0
    _close_with_hint(grad, expected_grad, "self.weight.grad after embedding(x).sum().backward() for x of shape (3, 5, 8)",
                     "Rows 0..4 are used by each of the 3 sequences (gradient 3), rows 5.. are unused (gradient 0).")

    advice = "Raise ValueError with a message that names the sizes (this check is at the top of forward)."
    _expect_raises(lambda: embedding(torch.randn(2, 17, 8)), ValueError,
                   "embedding(x) with seq=17 > max_len=16", advice)
    _expect_raises(lambda: embedding(torch.randn(2, 5, 7)), ValueError,
                   "embedding(x) with last dimension 7 != d_model=8", advice)

    device = get_device()
    moved = impl.LearnedPositionalEmbedding(16, 8).to(device)
    expect(moved.weight.device.type == device.type,
           f"after .to({str(device)!r}) the table is still on {moved.weight.device}: it must be an nn.Parameter")
    out = moved(torch.randn(2, 4, 8, device=device))
    _expect_tensor(out, (2, 4, 8), torch.float32, f"embedding(x) on {device}")
    _expect_on(out, device, f"embedding(x) on {device}", "compute the output from x and self.weight only")


# ---------------------------------------------------------------------------------------------
# §3 rope_frequencies
# ---------------------------------------------------------------------------------------------

ROPE_TABLE_HINT = ("Expected cos[pos, c] = cos(pos * base ** (-2j / head_dim)) with j = c mod (head_dim/2) "
                   "(rotate-half layout: column c and c + head_dim/2 share one angle), and the same for sin.")


def _expect_pair(result, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    expect(isinstance(result, (tuple, list)) and len(result) == 2,
           f"{what} returned a {type(result).__name__}, expected a tuple (cos, sin) of two tensors")
    return result[0], result[1]


def _rope_table_mistakes(head_dim: int, max_len: int, base: float, which: str) -> list[tuple[torch.Tensor, str]]:
    angles = rope_angles(head_dim, max_len, base)
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
        (func(angles),
         "the table has only head_dim/2 columns of angles: repeat them for both halves with "
         "torch.cat([angles, angles], dim=-1)"),
    ]


@public_check("positional.rope_frequencies")
def check_rope_frequencies(impl) -> None:
    """rope_frequencies returns (cos, sin) of shape (max_len, head_dim) in the rotate-half layout, matching the formula in float64."""
    what = "rope_frequencies(8, 20)"
    cos, sin = _expect_pair(impl.rope_frequencies(8, 20), what)
    for name, table in (("cos", cos), ("sin", sin)):
        if isinstance(table, torch.Tensor) and tuple(table.shape) == (20, 4):
            raise CheckFailed(f"{what}: {name} has shape (20, 4): {_rope_table_mistakes(8, 20, 1e4, name)[3][1]}")
        _expect_tensor(table, (20, 8), torch.float32, f"{what}[{'0' if name == 'cos' else '1'}] ({name})")
    expected_cos, expected_sin = rope_tables(8, 20)
    for name, table, expected in (("cos", cos, expected_cos), ("sin", sin, expected_sin)):
        _diagnose(table, _rope_table_mistakes(8, 20, 10000.0, name), f"{what} ({name})")
        _close_with_hint(table, expected.float(), f"{what} ({name})", ROPE_TABLE_HINT)

    what = "rope_frequencies(6, 30, base=500000.0, dtype=torch.float64)"
    cos, sin = _expect_pair(impl.rope_frequencies(6, 30, base=500000.0, dtype=torch.float64), what)
    expected_cos, expected_sin = rope_tables(6, 30, base=500000.0)
    for name, table, expected in (("cos", cos, expected_cos), ("sin", sin, expected_sin)):
        _expect_tensor(table, (30, 6), torch.float64, f"{what} ({name})")
        _diagnose(table, _rope_table_mistakes(6, 30, 500000.0, name), f"{what} ({name})")
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

    _expect_raises(lambda: impl.rope_frequencies(7, 10), ValueError, "rope_frequencies(7, 10) (odd head_dim)",
                   "RoPE rotates pairs of coordinates, so head_dim must be even: raise ValueError.")


# ---------------------------------------------------------------------------------------------
# §4 apply_rope
# ---------------------------------------------------------------------------------------------

def _scores(impl, q: torch.Tensor, k: torch.Tensor, cos, sin, m: list[int], n: list[int]) -> torch.Tensor:
    """score[t] = <rope(q, m[t]), rope(k, n[t])> for a single query and key vector, all pairs at once."""
    queries = impl.apply_rope(q.expand(len(m), -1).clone(), cos, sin, positions=torch.tensor(m))
    keys = impl.apply_rope(k.expand(len(n), -1).clone(), cos, sin, positions=torch.tensor(n))
    expect(isinstance(queries, torch.Tensor) and tuple(queries.shape) == (len(m), q.shape[-1]),
           f"apply_rope(x, cos, sin, positions=...) for x of shape ({len(m)}, {q.shape[-1]}) returned "
           f"{getattr(queries, 'shape', type(queries).__name__)}: it must keep the shape of x")
    return (queries.detach() * keys.detach()).sum(-1).to(torch.float64)


@public_check("positional.apply_rope")
def check_apply_rope(impl) -> None:
    """apply_rope rotates pairs (j, j + head_dim/2): it keeps norms, scores depend only on m - n, and it equals RoPE as complex multiplication."""
    torch.manual_seed(3)
    head_dim, max_len = 8, 64
    cos64, sin64 = rope_tables(head_dim, max_len)
    cos32, sin32 = cos64.float(), sin64.float()

    # Shapes, dtype, no in-place change.
    x = torch.randn(2, 3, 6, head_dim)
    x_before = x.clone()
    what = "apply_rope(x, cos, sin) for x of shape (2, 3, 6, 8)"
    out = impl.apply_rope(x, cos32, sin32)
    _expect_tensor(out, (2, 3, 6, 8), torch.float32, what)
    expect(torch.equal(x, x_before), f"{what} modified x in place: build a new tensor instead")

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
    q, k = torch.randn(head_dim, dtype=torch.float64), torch.randn(head_dim, dtype=torch.float64)
    m = [0, 3, 7, 10, 20, 5]
    n = [0, 1, 9, 10, 2, 30]
    base_scores = _scores(impl, q, k, cos64, sin64, m, n)
    for shift in (1, 5, 17):
        shifted = _scores(impl, q, k, cos64, sin64, [a + shift for a in m], [b + shift for b in n])
        worst = int((shifted - base_scores).abs().argmax())
        expect(abs(float(shifted[worst] - base_scores[worst])) < 1e-6 * (1 + abs(float(base_scores[worst]))),
               f"RoPE's key property fails: <rope(q, m={m[worst]}), rope(k, n={n[worst]})> = {base_scores[worst]:.6f} "
               f"but shifting both positions by {shift} gives {shifted[worst]:.6f}; the score must depend on m - n "
               "only. Rotate q and k by the same angles for the same position (row p of cos/sin for position p)")
    offsets = _scores(impl, q, k, cos64, sin64, [0, 0, 0, 0], [0, 1, 2, 3])
    expect(float(offsets.max() - offsets.min()) > 1e-6,
           "the score <rope(q, 0), rope(k, n)> is the same for n = 0, 1, 2, 3: the rotation does not depend on the "
           "position. With positions=..., use cos[positions] and sin[positions] (the rows for those positions)")

    # The exact values: RoPE as multiplication by e^{i * position * theta_j} (complex numbers).
    positions = torch.arange(6)
    expected = rope_complex(x, positions)
    mistakes = [
        (rope_complex(x, positions, sign=-1.0),
         "this rotates by minus the angle: rotate_half(x) must be cat([-x2, x1], dim=-1), so that out[j] = "
         "x1 * cos - x2 * sin and out[j + head_dim/2] = x2 * cos + x1 * sin"),
        (rope_complex(x, positions + 1),
         "the positions are shifted by one: row t of x is at position t, so use cos[:seq] and sin[:seq]"),
    ]
    _diagnose(out, mistakes, what)
    _close_with_hint(out, expected.float(), what,
                     "Expected out[..., j] = x1 * c - x2 * s and out[..., j + head_dim/2] = x2 * c + x1 * s with "
                     "x1 = x[..., j], x2 = x[..., j + head_dim/2], c = cos[pos, j], s = sin[pos, j].", atol=1e-5)

    # Explicit positions, in any order, give the rows of those positions.
    chosen = torch.tensor([9, 2, 2, 40, 0, 13])
    out = impl.apply_rope(x, cos32, sin32, positions=chosen)
    _close_with_hint(out, rope_complex(x, chosen).float(), "apply_rope(x, cos, sin, positions=[9, 2, 2, 40, 0, 13])",
                     "With positions given, row t of x is rotated by the angles of position positions[t]: "
                     "use cos[positions] and sin[positions].", atol=1e-5)

    # Device and dtype: everything stays where and as x is.
    device = get_device()
    cos_d, sin_d = cos32.to(device), sin32.to(device)
    x_d = torch.randn(2, 5, head_dim, device=device)
    out = impl.apply_rope(x_d, cos_d, sin_d)
    _expect_tensor(out, (2, 5, head_dim), torch.float32, f"apply_rope on {device}")
    _expect_on(out, device, f"apply_rope(x, cos, sin) with x on {device}", "keep every tensor on x's device")
    x64 = torch.randn(3, head_dim, dtype=torch.float64)
    out64 = impl.apply_rope(x64, cos32, sin32)
    expect(isinstance(out64, torch.Tensor) and out64.dtype == torch.float64,
           f"apply_rope(x, cos, sin) with a float64 x and float32 tables returned "
           f"{getattr(out64, 'dtype', type(out64).__name__)}: convert cos and sin to x.dtype, so the result keeps x's dtype")
    out64 = impl.apply_rope(x64, cos64, sin64)
    _close_with_hint(out64, rope_complex(x64, torch.arange(3)), "apply_rope(x, cos, sin) with float64 x and tables",
                     "In float64 the result must be accurate to float64 precision: do not convert anything to "
                     "float32 (convert cos and sin to x.dtype).", atol=1e-10, rtol=0)
