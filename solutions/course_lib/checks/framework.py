"""The machinery behind every check in the course.

A *check* is a function that takes `impl`, the module under test, and raises `CheckFailed`
with a message a learner can act on when something is wrong. The check is the **judge**: it
holds the inputs, the expected values and the comparison. The learner's code never runs in the
judge's hands: `impl` is a `Handle` (see `course_lib.checks.remote`) whose calls run in a
**worker** and come back as plain data (tensors, numbers, strings, lists, dicts) or as handles
to objects that stay in the worker. So one check serves every place:

* a notebook's check cell, ``check("attention.softmax")``: the worker is the notebook's own
  process, on the module as it is on disk *now* (re-read for every check);
* ``pytest`` (``make test`` on the reference, the learner's command on their package);
* the instructor's grader (``python -m grading grade``), where the worker is a separate,
  limited, sandboxed process and nothing it does can change the verdict;
* the course's own tests, which run every check on the reference, the untouched stubs and a
  set of deliberately wrong implementations, to prove that each check can fail.

Writing a check::

    @public_check("attention.softmax", timeout=30)
    def check_softmax(impl):
        "One line shown when it passes."
        got = impl.softmax(torch.tensor([[1.0, 2.0]]))           # runs in the worker
        expect_close(got, torch.tensor([[0.2689414, 0.7310586]]), "softmax([[1., 2.]])")

Anything that needs the real objects (a backward pass, ``isinstance``, weight sharing) goes in a
`probe`: a function of the public checks that runs in the worker and returns plain data.
Hidden checks (``grading/hidden/<module>.py``, instructor only) use `hidden_check` with the
same names, and may hold earlier exercises fixed with `hold_fixed`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .remote import (
    CheckTimeout,
    Connection,
    Handle,
    LocalConnection,
    ProtocolError,
    StudentError,
    Worker,
    WorkerGone,
    load_fresh,
    probe,
    using,
)

__all__ = [
    "Check", "CheckFailed", "CheckResult", "StudentError", "Handle", "probe",
    "public_check", "hidden_check", "load_checks", "checks_named", "oracles", "hold_fixed",
    "run_one", "run_check", "check", "check_all", "needs",
    "expect", "expect_equal", "expect_type", "expect_close", "expect_raises",
]

CheckFunction = Callable[[Any], None]
DEFAULT_TIMEOUT = 30.0  # seconds a check may take in grading (per check; see public_check)


class CheckFailed(AssertionError):
    """Raised by a check when the code under test is wrong. The message is for the learner."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mCheckFailed: {self}\x1b[0m"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One registered check.

    Attributes:
        name: "<module>.<exercise>", e.g. "tokenization.merge_pair".
        function: the check itself; called with the module under test (a Handle).
        hidden: True for the instructor's hidden checks.
        timeout: seconds the check may take when graded (the worker is stopped after that).
    """

    name: str
    function: CheckFunction
    hidden: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def description(self) -> str:
        doc = (self.function.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclasses.dataclass
class CheckResult:
    """What running one check produced. `passed` is the verdict, `message` explains it."""

    name: str
    passed: bool
    message: str = ""
    kind: str = "passed"  # passed | failed | not_implemented | error | timeout | crashed | import_error
    seconds: float = 0.0

    def __str__(self) -> str:
        mark = "✓" if self.passed else "✗"
        return f"{mark} {self.name}" + ("" if self.passed else f": {self.message}")


_REGISTRY: dict[tuple[str, bool], list[Check]] = {}


def _register(name: str, hidden: bool, timeout: float) -> Callable[[CheckFunction], CheckFunction]:
    if "." not in name:
        raise ValueError(f"check names look like 'module.exercise', not {name!r}")

    def decorator(function: CheckFunction) -> CheckFunction:
        checks = _REGISTRY.setdefault((name, hidden), [])
        # Re-importing a checks module must not register twice.
        checks[:] = [c for c in checks if c.function.__qualname__ != function.__qualname__]
        checks.append(Check(name=name, function=function, hidden=hidden, timeout=float(timeout)))
        return function

    return decorator


def public_check(name: str, timeout: float = DEFAULT_TIMEOUT) -> Callable[[CheckFunction], CheckFunction]:
    """Register a public check, e.g. ``@public_check("tokenization.merge_pair")``."""
    return _register(name, hidden=False, timeout=timeout)


def hidden_check(name: str, timeout: float = DEFAULT_TIMEOUT) -> Callable[[CheckFunction], CheckFunction]:
    """Register a hidden check (instructor side only) under the same name as the public one."""
    return _register(name, hidden=True, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Finding checks
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
            "(grading/hidden/ in the course repository, or COURSE_HIDDEN_CHECKS).")
    return [c for (name, is_hidden), checks in _REGISTRY.items() if is_hidden == hidden
            and name.split(".", 1)[0] == module for c in checks]


def checks_named(name: str, hidden: bool = False) -> list[Check]:
    """All checks registered under `name` (loading them first)."""
    load_checks(name.split(".", 1)[0], hidden=hidden)
    found = list(_REGISTRY.get((name, hidden), []))
    if not found:
        kind = "hidden" if hidden else "public"
        known = sorted({n for (n, h) in _REGISTRY if h == hidden})
        raise KeyError(f"No {kind} check named {name!r}. Known: {', '.join(known) or 'none'}")
    return found


def oracles(module: str) -> dict[str, Any]:
    """Correct implementations of a module's exercises, kept on the instructor's side
    (``ORACLES`` in ``grading/hidden/<module>.py``); empty where those files are absent."""
    hidden = _hidden_module(module)
    return dict(getattr(hidden, "ORACLES", {})) if hidden is not None else {}


@contextlib.contextmanager
def hold_fixed(module: str, impl: Handle, *names: str):
    """Within the block, the learner's functions `names` are replaced, in the worker, by stubs
    that call the instructor's oracles here, in the judge (the oracle never enters the worker).

    A check of `train_bpe` uses ``with hold_fixed("tokenization", impl, "merge_pair"):`` so that a
    bug in `merge_pair` costs the `merge_pair` exercise only. Where no oracle is available (a
    learner's copy of the course) the learner's own functions stay in place.
    """
    known = oracles(module)
    held = [name for name in names if name in known]
    connection = object.__getattribute__(impl, "_connection") if isinstance(impl, Handle) else None
    if connection is None or not held:
        yield impl
        return
    patched = []
    try:
        for name in held:
            connection.patch(impl, name, known[name])
            patched.append(name)
        yield impl
    finally:
        for name in patched:
            with contextlib.suppress(Exception):
                connection.unpatch(impl, name)


# ---------------------------------------------------------------------------------------------
# Running checks
# ---------------------------------------------------------------------------------------------

def _student_message(err: StudentError) -> tuple[str, str]:
    if err.not_implemented:
        hint = err.message or "this function still raises NotImplementedError"
        return "not_implemented", f"not implemented yet: {hint}"
    if err.is_a("RecursionError"):
        return "error", f"your code recursed too deeply: {err.message}"
    return "error", f"your code raised {err.type_name}: {err.message}{err.where}"


def run_one(check_: Check, impl: Handle) -> CheckResult:
    """Run one check against `impl` and turn every outcome into a readable `CheckResult`."""
    connection = object.__getattribute__(impl, "_connection")
    started = time.monotonic()
    try:
        with using(connection):
            check_.function(impl)
    except StudentError as err:
        kind, message = _student_message(err)
        return CheckResult(check_.name, False, message, kind, time.monotonic() - started)
    except CheckFailed as err:
        return CheckResult(check_.name, False, str(err), "failed", time.monotonic() - started)
    except CheckTimeout:
        return CheckResult(check_.name, False, f"gave up after {check_.timeout:.0f} s: your code may loop "
                           "forever or be far too slow", "timeout", time.monotonic() - started)
    except WorkerGone as err:
        return CheckResult(check_.name, False, f"the process running your code ended during the check "
                           f"({err}): it may have run out of memory, crashed, or exited", "crashed",
                           time.monotonic() - started)
    except ProtocolError as err:
        return CheckResult(check_.name, False, f"the process running your code sent back something that "
                           f"is not a result ({err})", "crashed", time.monotonic() - started)
    except RecursionError:
        return CheckResult(check_.name, False, "what your code returned is nested too deeply to check",
                           "error", time.monotonic() - started)
    except Exception as err:  # noqa: BLE001 - what came back did not fit what the check expects
        return CheckResult(check_.name, False, f"the check could not use what your code returned "
                           f"({type(err).__name__}: {err})", "error", time.monotonic() - started)
    return CheckResult(check_.name, True, check_.description, "passed", time.monotonic() - started)


def local_connection(module: str, impl: ModuleType | None = None) -> Connection:
    """A worker in this process for ``course_lib.<module>``: `impl` if given (a module object),
    else the module re-read from disk now (its import error, if any, is what checks report)."""
    if impl is None:
        try:
            impl = load_fresh(module)
        except BaseException as err:  # noqa: BLE001 - a syntax error in learner code is a message
            if isinstance(err, KeyboardInterrupt):
                raise
            return LocalConnection(Worker({module: err}))
    return LocalConnection(Worker({module: impl}))


def import_failure(module: str, err: StudentError) -> str:
    """The message for a module that cannot be imported (said once, for every check)."""
    return (f"course_lib/{module}.py could not be imported, so nothing in it can be checked: "
            f"{err.type_name}: {err.message}{err.where}")


def run_check(name: str, impl: ModuleType | None = None, hidden: bool = False,
              connection: Connection | None = None) -> CheckResult:
    """Run every check registered under `name`; the result passes only if all of them pass.

    The code under test is `connection`'s worker (grading), else `impl` (a module object, in
    the course's tests), else ``course_lib.<module>`` re-read from disk now.
    """
    checks = checks_named(name, hidden=hidden)
    module = checks[0].module
    connection = connection if connection is not None else local_connection(module, impl)
    try:
        handle = connection.module(module)
    except StudentError as err:
        return CheckResult(name, False, import_failure(module, err), "import_error")
    except CheckTimeout:
        return CheckResult(name, False, f"course_lib/{module}.py did not answer in time", "timeout")
    except ProtocolError as err:
        return CheckResult(name, False, f"the process running your code sent back something that is not a "
                           f"result ({err})", "crashed")
    if not isinstance(handle, Handle):
        return CheckResult(name, False, f"course_lib.{module} did not come back as a module (something in the "
                           "process running your code replaced the machinery that answers the checks)", "crashed")
    started = time.monotonic()
    for check_ in checks:
        connection.deadline = None
        if not isinstance(connection, LocalConnection):  # a separate worker: its time is limited
            connection.deadline = time.monotonic() + check_.timeout * getattr(connection, "timeout_scale", 1.0)
            budget = getattr(connection, "budget_deadline", None)
            if budget is not None:
                connection.deadline = min(connection.deadline, budget)
        result = run_one(check_, handle)
        connection.deadline = None
        if result.kind not in ("timeout", "crashed"):
            with contextlib.suppress(Exception):
                connection.release()
        if not result.passed:
            result.seconds = time.monotonic() - started
            return result
    return CheckResult(name, True, checks[0].description, "passed", time.monotonic() - started)


def check(name: str, hidden: bool = False) -> None:
    """The notebook's self-check: run the checks named `name` on your code as it is on disk now,
    and print one line: ✓, or ✗ and what to fix. Never raises, so "Run All" goes on."""
    result = run_check(name, hidden=hidden)
    label = f"{name} (hidden)" if hidden else name
    if result.passed:
        print(f"✓ {label}: passed" + (f" — {result.message}" if result.message else ""))
    else:
        print(f"✗ {label}: {result.message}")


def check_all(module: str, impl: ModuleType | None = None) -> list[CheckResult]:
    """Run every public check of a module and print a summary (for the end of a notebook)."""
    checks = load_checks(module)
    names = list(dict.fromkeys(c.name for c in checks))
    connection = local_connection(module, impl)
    results = [run_check(n, connection=connection) for n in names]
    for result in results:
        print(result)
    passed = sum(r.passed for r in results)
    print(f"{passed}/{len(results)} checks pass.")
    if passed == len(results):
        print("All of this notebook's checks pass. (When this assignment is graded, more cases are "
              "run: other sizes, random inputs, edge cases.)")
    return _QuietList(results)


class _QuietList(list):
    def __repr__(self) -> str:
        return ""

    def _repr_pretty_(self, printer, cycle) -> None:
        pass


_SKIPPED_BEFORE = False  # a `needs` block skipped code in this kernel: later NameErrors follow from it


@contextlib.contextmanager
def needs(*_unused: str):
    """Run a notebook cell's body; if it stops at a function you have not written yet, say
    which one and where, skip the rest of the cell, and let "Run All" go on.

        with needs():
            weights = softmax(scores)
    """
    import re

    global _SKIPPED_BEFORE
    figures_before = _open_figures()
    try:
        yield
    except (NameError, KeyError) as err:
        if not _SKIPPED_BEFORE:
            raise  # a real mistake in the notebook, not a consequence of unwritten code
        _close_new_figures(figures_before)
        what = getattr(err, "name", None) or (err.args[0] if err.args else err)
        print(f"⏸ This cell needs a result ({what}) of an earlier cell that was skipped because code is not "
              "written yet: the rest of the cell was skipped.")
    except NotImplementedError as err:
        _SKIPPED_BEFORE = True
        text = str(err)
        found = re.search(r"(?P<func>[\w.]+)\(\) is not written yet \((?P<where>[^)]*)\)", text)
        _close_new_figures(figures_before)
        if found:
            print(f"⏸ This cell needs {found['func']}() ({found['where']}), which is not written yet: "
                  "the rest of the cell was skipped. Write it, run its check, then run this cell again.")
        else:
            print(f"⏸ This cell needs code that is not written yet ({text or 'NotImplementedError'}): "
                  "the rest of the cell was skipped.")


def _open_figures() -> set:
    plt = sys.modules.get("matplotlib.pyplot")
    return set(plt.get_fignums()) if plt is not None else set()


def _close_new_figures(before: set) -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


# ---------------------------------------------------------------------------------------------
# Assertions with learner-facing messages (judge side: they never run in the worker)
# ---------------------------------------------------------------------------------------------

def expect(condition: Any, message: str) -> None:
    """Fail with `message` unless `condition` is true (a plain bool, computed by the judge)."""
    if type(condition) is not bool:
        import torch

        if isinstance(condition, torch.Tensor) and condition.numel() == 1:
            condition = bool(condition.item())
        elif isinstance(condition, Handle):
            raise CheckFailed(f"{message} (got an object, {condition.type_name}, where a value was expected)")
        else:
            condition = bool(condition)
    if not condition:
        raise CheckFailed(message)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_type(value: Any) -> str:
    return value.type_name if isinstance(value, Handle) else type(value).__name__


def expect_equal(got: Any, expected: Any, what: str) -> None:
    """Fail unless ``got == expected`` (plain values), saying what was computed and what came back."""
    if isinstance(got, Handle):
        raise CheckFailed(f"{what} returned a {got.type_name}, expected {_short(expected)}")
    if not _plain_equal(got, expected):
        raise CheckFailed(f"{what} returned {_short(got)}, expected {_short(expected)}")


def _plain_equal(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and bool(torch.equal(a.cpu(), b.cpu())))
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                       and type(a) is not bool and type(b) is not bool):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k]) for k in a)
    return a == b


def expect_type(got: Any, expected_type: type | tuple[type, ...], what: str) -> None:
    if not isinstance(got, expected_type):
        names = (expected_type.__name__ if isinstance(expected_type, type)
                 else " or ".join(t.__name__ for t in expected_type))
        raise CheckFailed(f"{what} returned a {_describe_type(got)}, expected a {names}")


def expect_close(got: Any, expected: Any, what: str, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Fail unless two tensors have the same shape and close values; reports the worst element."""
    import torch

    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what} returned a {_describe_type(got)}, expected a torch.Tensor")
    expected = torch.as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailed(f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if got.is_floating_point() != expected.is_floating_point() or got.is_complex() != expected.is_complex():
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected {expected.dtype}")
    g = got.detach().to("cpu", torch.complex128 if got.is_complex() else torch.float64)
    e = expected.detach().to("cpu", g.dtype)
    g_nan, e_nan = torch.isnan(g), torch.isnan(e)
    if bool((g_nan & ~e_nan).any()):
        index = tuple(int(i) for i in torch.nonzero(g_nan & ~e_nan)[0])
        raise CheckFailed(f"{what} contains NaN values (first at index {index})")
    diff = (g - e).abs()
    diff = torch.where(g_nan & e_nan, torch.zeros_like(diff), diff)
    same_inf = torch.isinf(g) & torch.isinf(e) & (g == e)
    diff = torch.where(same_inf, torch.zeros_like(diff), diff)
    tolerance = atol + rtol * e.abs()
    bad = diff > tolerance
    bad = bad | torch.isnan(diff)
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        worst = diff[~torch.isnan(diff)].max().item() if bool((~torch.isnan(diff)).any()) else float("nan")
        raise CheckFailed(
            f"{what} differs from the expected values at index {index}: got {g[index].item():.6g}, "
            f"expected {e[index].item():.6g} (max abs difference {worst:.3g}, "
            f"{int(bad.sum())} of {bad.numel()} elements off)")


def _article(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def expect_raises(function: Callable[[], Any], exception: type[BaseException] | tuple[type[BaseException], ...],
                  what: str, advice: str = "") -> None:
    """Fail unless calling `function` makes the learner's code raise `exception` (or one of a
    tuple of them, or a subclass). A stub's NotImplementedError is passed on (the check then
    reports "not implemented yet")."""
    kinds = exception if isinstance(exception, tuple) else (exception,)
    wanted = " or ".join(_article(k.__name__) for k in kinds)
    try:
        function()
    except StudentError as err:
        if err.not_implemented and NotImplementedError not in kinds:
            raise
        if any(err.is_a(k) for k in kinds):
            return
        raise CheckFailed(f"{what} raised {err.type_name} ({err.message}); expected {wanted}. "
                          f"{advice}".rstrip()) from None
    raise CheckFailed(f"{what} did not raise {wanted}. {advice}".rstrip())
