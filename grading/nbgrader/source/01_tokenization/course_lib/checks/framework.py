"""The machinery behind every check in the course.

A *check* is a small function that takes the module under test (your `course_lib.tokenization`,
say, or the reference, or a deliberately broken copy) and raises `CheckFailed` with a message a
learner can act on when something is wrong. Checks never import your module themselves: they
are handed it. That is what lets one check serve four places:

* the self-check cell of a notebook: ``check("tokenization.merge_pair")``
* ``pytest`` from the shell (``make check`` on your package, ``make test`` on the reference)
* nbgrader's autograded cells, where each check runs in a separate, limited process
* the course's own tests, which run every check against the reference, the untouched stubs and
  a set of wrong implementations to prove that each check can fail.

Checks are registered with `public_check` (in ``course_lib/checks/<module>.py``) or
`hidden_check` (in the instructor's ``grading/hidden/<module>.py``, which students never receive).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

CheckFunction = Callable[[ModuleType], None]


class CheckFailed(AssertionError):
    """Raised by a check when the code under test is wrong. The message is for the learner."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is what a learner needs, and
        # a traceback would quote the test cell (hidden tests included) back into the feedback.
        return [f"\x1b[31mCheckFailed: {self}\x1b[0m"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One registered check.

    Attributes:
        name: "<module>.<exercise>", e.g. "tokenization.merge_pair". The notebook's test cell,
            pytest's test id and the autograder all use this name.
        function: the check itself; called with the module under test.
        hidden: True for the instructor's hidden checks.
    """

    name: str
    function: CheckFunction
    hidden: bool = False

    @property
    def module(self) -> str:
        """The course_lib module under test ("tokenization" for "tokenization.merge_pair")."""
        return self.name.split(".", 1)[0]

    @property
    def description(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0] if self.function.__doc__ else ""


@dataclasses.dataclass
class CheckResult:
    """What running one check produced. `passed` is the verdict, `message` explains it."""

    name: str
    passed: bool
    message: str = ""
    kind: str = "passed"  # passed | failed | not_implemented | error | timeout | crashed

    def __str__(self) -> str:
        mark = "✓" if self.passed else "✗"
        return f"{mark} {self.name}" + ("" if self.passed else f": {self.message}")


# name -> list of checks (a name may have several hidden checks, and one public check)
_REGISTRY: dict[tuple[str, bool], list[Check]] = {}


def _register(name: str, hidden: bool) -> Callable[[CheckFunction], CheckFunction]:
    if "." not in name:
        raise ValueError(f"check names look like 'module.exercise', not {name!r}")

    def decorator(function: CheckFunction) -> CheckFunction:
        checks = _REGISTRY.setdefault((name, hidden), [])
        # Re-importing a checks module (e.g. in a notebook) must not register twice.
        checks[:] = [c for c in checks if c.function.__qualname__ != function.__qualname__]
        checks.append(Check(name=name, function=function, hidden=hidden))
        return function

    return decorator


def public_check(name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a public check, e.g. ``@public_check("tokenization.merge_pair")``."""
    return _register(name, hidden=False)


def hidden_check(name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a hidden check (instructor side only) under the same name as the public one."""
    return _register(name, hidden=True)


# ---------------------------------------------------------------------------------------------
# Finding checks and the code under test
# ---------------------------------------------------------------------------------------------

def hidden_checks_dir() -> Path | None:
    """Where the instructor's hidden checks live: ``COURSE_HIDDEN_CHECKS``, else the repo's
    ``grading/hidden`` when this package sits in a clone of the course; None otherwise."""
    env = os.environ.get("COURSE_HIDDEN_CHECKS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents[1:4]:
        candidate = parent / "grading" / "hidden"
        if candidate.is_dir():
            return candidate
    return None


def _hidden_module(module: str) -> ModuleType | None:
    """The instructor's ``grading/hidden/<module>.py``, loaded once; None where it is absent."""
    unique = f"_course_hidden_checks_{module}"
    if unique in sys.modules:
        return sys.modules[unique]
    directory = hidden_checks_dir()
    path = directory / f"{module}.py" if directory else None
    if path is None or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(unique, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[unique] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[unique]
        raise
    return loaded


def load_checks(module: str, hidden: bool = False) -> list[Check]:
    """Import the checks of one course_lib module and return them, in definition order."""
    importlib.import_module(f"course_lib.checks.{module}")
    if hidden and _hidden_module(module) is None:
        raise FileNotFoundError(
            f"No hidden checks for {module!r}: they exist only on the instructor's side "
            "(grading/hidden/ in the course repository, or COURSE_HIDDEN_CHECKS)."
        )
    return [c for (name, is_hidden), checks in _REGISTRY.items() if is_hidden == hidden
            and name.split(".", 1)[0] == module for c in checks]


def oracles(module: str) -> dict[str, Any]:
    """Correct implementations of a module's exercises, kept on the instructor's side.

    ``grading/hidden/<module>.py`` may define ``ORACLES = {"merge_pair": ..., ...}``. Public
    checks never contain an implementation of an exercise (students receive them); they use
    these only to hold earlier exercises fixed (`hold_fixed`). Empty where the instructor's
    files are absent, as in a student's release.
    """
    hidden = _hidden_module(module)
    return dict(getattr(hidden, "ORACLES", {})) if hidden is not None else {}


@contextlib.contextmanager
def hold_fixed(module: str, impl: ModuleType, *names: str):
    """Within the block, `impl`'s functions `names` are replaced by the instructor's oracles.

    A check of `train_bpe` uses ``with hold_fixed("tokenization", impl, "merge_pair"):`` so that
    a bug in `merge_pair` costs the learner the `merge_pair` exercise only. Where no oracle is
    available (a student's release), the learner's own functions stay in place: a failure may then
    come from an earlier exercise, which its own check reports.
    """
    known = oracles(module)
    saved = {}
    try:
        for name in names:
            if name in known and hasattr(impl, name):
                saved[name] = getattr(impl, name)
                setattr(impl, name, known[name])
        yield impl
    finally:
        for name, original in saved.items():
            setattr(impl, name, original)


def checks_named(name: str, hidden: bool = False) -> list[Check]:
    """All checks registered under `name` (loading them first)."""
    load_checks(name.split(".", 1)[0], hidden=hidden)
    found = list(_REGISTRY.get((name, hidden), []))
    if not found:
        kind = "hidden" if hidden else "public"
        known = sorted({n for (n, h) in _REGISTRY if h == hidden})
        raise KeyError(f"No {kind} check named {name!r}. Known: {', '.join(known) or 'none'}")
    return found


def import_impl(module: str) -> ModuleType:
    """Import ``course_lib.<module>``: your code, wherever `course_lib` is found on the path."""
    return importlib.import_module(f"course_lib.{module}")


# ---------------------------------------------------------------------------------------------
# Running checks
# ---------------------------------------------------------------------------------------------

def _where_in_impl(error: BaseException, impl: ModuleType) -> str:
    """' (your code, line N: <source>)' for the deepest frame inside the module under test."""
    impl_file = getattr(impl, "__file__", None)
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if impl_file and os.path.abspath(frame.filename) == os.path.abspath(impl_file):
            return f" (in {Path(frame.filename).name}, line {frame.lineno}: {frame.line})"
    return ""


def run_one(check_: Check, impl: ModuleType) -> CheckResult:
    """Run one check against `impl` and turn every outcome into a readable `CheckResult`."""
    try:
        check_.function(impl)
    except NotImplementedError as err:
        hint = str(err) or "this function still raises NotImplementedError"
        return CheckResult(check_.name, False, f"not implemented yet: {hint}", "not_implemented")
    except CheckFailed as err:
        return CheckResult(check_.name, False, str(err), "failed")
    except RecursionError as err:
        return CheckResult(check_.name, False, f"your code recursed too deeply: {err}", "error")
    except Exception as err:  # noqa: BLE001 - any error in learner code becomes a message
        where = _where_in_impl(err, impl)
        return CheckResult(
            check_.name, False, f"your code raised {type(err).__name__}: {err}{where}", "error"
        )
    return CheckResult(check_.name, True, check_.description, "passed")


def run_check(name: str, impl: ModuleType | None = None, hidden: bool = False) -> CheckResult:
    """Run every check registered under `name` against `impl` (default: your course_lib module).

    The result passes only if all of them pass; the message is the first failure's.
    """
    checks = checks_named(name, hidden=hidden)
    if impl is None:
        try:
            impl = import_impl(checks[0].module)
        except Exception as err:  # noqa: BLE001 - a syntax error in learner code is a message
            where = f", line {err.lineno}" if isinstance(err, SyntaxError) else ""
            return CheckResult(name, False, f"course_lib.{checks[0].module} could not be imported: "
                               f"{type(err).__name__}: {err}{where}", "error")
    for check_ in checks:
        result = run_one(check_, impl)
        if not result.passed:
            return result
    return CheckResult(name, True, checks[0].description, "passed")


def grading_mode() -> bool:
    """True inside the instructor's autograder, where checks run in a separate, limited process."""
    return os.environ.get("COURSE_GRADING") == "1"


def check(name: str, hidden: bool = False) -> None:
    """The notebook's self-check: run the checks named `name` on your code and say how it went.

    Prints one line (✓ or ✗ and what to fix). On failure raises `CheckFailed`, so that the cell
    shows red and nbgrader records the failure. In the autograder (``COURSE_GRADING=1``) the
    check runs in a separate, time- and memory-limited process, so that an infinite loop or a
    crash in one exercise costs that exercise only.
    """
    if grading_mode():
        from grading.sandbox import run_check_isolated  # instructor side only

        result = run_check_isolated(name, hidden=hidden)
    else:
        result = run_check(name, hidden=hidden)
    label = f"{name} (hidden)" if hidden else name
    if result.passed:
        print(f"✓ {label}: passed" + (f" — {result.message}" if result.message else ""))
        return
    print(f"✗ {label}: {result.message}")
    # Raise with a short traceback: the message above is what matters.
    raise CheckFailed(f"{label}: {result.message}") from None


def check_all(module: str, impl: ModuleType | None = None) -> list[CheckResult]:
    """Run every public check of a module and print a summary table (for the end of a notebook)."""
    checks = load_checks(module)
    impl = impl if impl is not None else import_impl(module)
    names = list(dict.fromkeys(c.name for c in checks))
    results = [run_check(n, impl=impl) for n in names]
    for result in results:
        print(result)
    print(f"{sum(r.passed for r in results)}/{len(results)} checks pass")
    return results


# ---------------------------------------------------------------------------------------------
# Assertions with learner-facing messages
# ---------------------------------------------------------------------------------------------

def expect(condition: Any, message: str) -> None:
    """Fail with `message` unless `condition` is true."""
    if not condition:
        raise CheckFailed(message)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expect_equal(got: Any, expected: Any, what: str) -> None:
    """Fail unless ``got == expected``, saying what was computed, what was expected and got."""
    if got != expected:
        raise CheckFailed(f"{what} returned {_short(got)}, expected {_short(expected)}")


def expect_type(got: Any, expected_type: type | tuple[type, ...], what: str) -> None:
    if not isinstance(got, expected_type):
        names = (expected_type.__name__ if isinstance(expected_type, type)
                 else " or ".join(t.__name__ for t in expected_type))
        raise CheckFailed(f"{what} returned a {type(got).__name__}, expected a {names}")


def expect_close(got: Any, expected: Any, what: str, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Fail unless two tensors have the same shape and close values; reports the worst element.

    This deliberately does not call `torch.allclose` on the learner's behalf in a way they could
    monkeypatch away: it computes the difference itself.
    """
    import torch

    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what} returned a {type(got).__name__}, expected a torch.Tensor")
    expected = torch.as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailed(
            f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        )
    if got.is_floating_point() != expected.is_floating_point():
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected {expected.dtype}")
    g = got.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    if torch.isnan(g).any() and not torch.isnan(e).any():
        raise CheckFailed(f"{what} contains NaN values")
    diff = (g - e).abs()
    tolerance = atol + rtol * e.abs()
    bad = diff > tolerance
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise CheckFailed(
            f"{what} differs from the expected values at index {index}: got {g[index].item():.6g}, "
            f"expected {e[index].item():.6g} (max abs difference {diff.max().item():.3g}, "
            f"{int(bad.sum())} of {bad.numel()} elements off)"
        )
