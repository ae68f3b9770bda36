"""The checks mean something: the reference passes public and hidden checks, the untouched stubs
fail every check with a hint, and every deliberately wrong implementation is caught."""

import pytest

from course_lib.checks.framework import load_checks, run_check
from support import exercise_modules, mutant, mutant_paths, reference, stub

MODULES = exercise_modules()
BROKEN: dict[str, str] = {}  # module -> why its checks could not be loaded (a failing test below)


def _names(module: str, hidden: bool) -> list[tuple[str, str]]:
    try:
        return [(module, n) for n in dict.fromkeys(c.name for c in load_checks(module, hidden=hidden))]
    except Exception as err:  # noqa: BLE001 - one broken checks file must not hide the others' results
        BROKEN[module] = f"{type(err).__name__}: {err}"
        return []


PUBLIC = [pair for m in MODULES for pair in _names(m, False)]
HIDDEN = [pair for m in MODULES for pair in _names(m, True)]


@pytest.mark.parametrize("module", MODULES)
def test_checks_load(module):
    assert module not in BROKEN, f"the checks of {module} cannot be loaded: {BROKEN.get(module)}"
MUTANTS = mutant_paths()


@pytest.mark.parametrize("module,name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_reference_passes(module, name):
    result = run_check(name, impl=reference(module))
    assert result.passed, str(result)


@pytest.mark.parametrize("module,name", HIDDEN, ids=[n for _, n in HIDDEN])
def test_reference_passes_hidden(module, name):
    result = run_check(name, impl=reference(module), hidden=True)
    assert result.passed, str(result)


def test_hidden_checks_have_public_twins():
    public = {n for _, n in PUBLIC}
    hidden = {n for _, n in HIDDEN}
    assert hidden <= public, f"hidden checks without a public check: {sorted(hidden - public)}"
    assert hidden, "no hidden checks at all"


@pytest.mark.parametrize("module,name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_stubs_fail_with_a_hint(module, name):
    result = run_check(name, impl=stub(module))
    assert not result.passed, f"{name} passes on the untouched stub: the check cannot fail"
    assert result.kind == "not_implemented", f"stub failed confusingly: {result}"
    assert "notebook" in result.message and "Hint:" in result.message, result.message


def test_every_module_has_mutants():
    for module in MODULES:
        assert mutant_paths(module), f"no deliberately wrong implementations for {module}"


@pytest.mark.parametrize("path", MUTANTS, ids=[f"{p.parent.name}/{p.stem}" for p in MUTANTS])
def test_mutant_is_caught(path):
    module = mutant(path)
    caught_by = getattr(module, "CAUGHT_BY", None)
    assert caught_by, f"{path.name} must list the public checks that catch it in CAUGHT_BY"
    for name in caught_by:
        result = run_check(name, impl=module)
        assert not result.passed, f"{path.name} ({module.__doc__}) is not caught by {name}"
        assert result.kind in ("failed", "error"), result
        assert len(result.message) > 20, f"message too thin to act on: {result.message!r}"


@pytest.mark.parametrize("path", MUTANTS, ids=[f"{p.parent.name}/{p.stem}" for p in MUTANTS])
def test_one_bug_costs_points_once(path):
    """A bug in one exercise fails that exercise's test cell only: every other public and hidden
    check passes (earlier exercises are held fixed with the instructor's oracles)."""
    module = mutant(path)
    caught_by = set(getattr(module, "CAUGHT_BY", []))
    module_name = path.parent.name
    for hidden, names in ((False, [n for m, n in PUBLIC if m == module_name]),
                          (True, [n for m, n in HIDDEN if m == module_name])):
        for name in set(names) - caught_by:
            result = run_check(name, impl=module, hidden=hidden)
            assert result.passed, f"{path.name} also costs {name}{' (hidden)' if hidden else ''}: {result}"


def test_every_exercise_has_a_mutant():
    """Each public check catches at least one mutant, so no check is decorative."""
    caught = set()
    for path in MUTANTS:
        caught.update(getattr(mutant(path), "CAUGHT_BY", []))
    missing = sorted({n for _, n in PUBLIC} - caught)
    assert not missing, f"public checks that no mutant exercises: {missing}"
