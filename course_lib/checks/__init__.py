"""Checks for your work: ``check("tokenization.merge_pair")`` in a notebook.

See `course_lib.checks.framework` for how checks are written and run, and
`course_lib.checks.remote` for how a check reaches your code (plain data only).
"""

from .framework import (  # noqa: F401 - the public API
    Check,
    CheckFailed,
    CheckResult,
    Handle,
    StudentError,
    check,
    check_all,
    checks_named,
    expect,
    expect_close,
    expect_equal,
    expect_raises,
    expect_type,
    hidden_check,
    hold_fixed,
    load_checks,
    needs,
    oracles,
    probe,
    public_check,
    run_check,
    run_one,
)
