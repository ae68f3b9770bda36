"""Checks for your work: ``check("tokenization.merge_pair")`` in a notebook, ``make check`` in a shell.

See `course_lib.checks.framework` for how checks are written and run.
"""

from .framework import (  # noqa: F401 - the public API
    Check,
    CheckFailed,
    CheckResult,
    check,
    check_all,
    checks_named,
    expect,
    expect_close,
    expect_equal,
    expect_type,
    hidden_check,
    hold_fixed,
    load_checks,
    oracles,
    public_check,
    run_check,
    run_one,
)
