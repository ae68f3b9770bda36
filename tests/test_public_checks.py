"""Every public check passes on the package under test (the reference by default; see conftest)."""

import pytest

from course_lib.checks.framework import load_checks, run_check
from support import exercise_modules

def _names(module):
    try:
        return list(dict.fromkeys(c.name for c in load_checks(module)))
    except Exception:  # noqa: BLE001 - reported by test_checks_can_fail.test_checks_load
        return []


NAMES = [name for module in exercise_modules() for name in _names(module)]


def test_there_are_checks():
    assert len(NAMES) >= 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_public_check(name):
    result = run_check(name)
    assert result.passed, str(result)
