"""The autograder's isolated check runner against hostile submissions.

Each test hands the runner a `course_lib` whose tokenization module misbehaves, and checks the
verdict is a failure with a useful message, produced without harm to the grading process.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from grading import sandbox
from support import REPO, SOLUTIONS

CHECK = "tokenization.merge_pair"


@pytest.fixture
def submission(tmp_path, monkeypatch):
    """A folder like a student's: the student package with a module we write."""
    shutil.copytree(REPO / "course_lib", tmp_path / "course_lib")
    monkeypatch.setenv("COURSE_CHECK_TIMEOUT", "15")
    monkeypatch.setenv("COURSE_CHECK_MEMORY_MB", "2048")
    monkeypatch.delenv("COURSE_HIDDEN_CHECKS", raising=False)

    def write(code: str):
        reference = (SOLUTIONS / "tokenization.py").read_text(encoding="utf-8")
        (tmp_path / "course_lib" / "tokenization.py").write_text(reference + "\n" + code, encoding="utf-8")
        return tmp_path

    return write


def run(workdir, hidden=False):
    sandbox._ANSWERED.clear()
    return sandbox.run_check_isolated(CHECK, hidden=hidden, workdir=workdir)


def test_reference_passes_in_the_sandbox(submission):
    result = run(submission(""))
    assert result.passed, result


def test_printing_a_fake_verdict_does_not_pass(submission):
    code = '''
import json, sys
def merge_pair(ids, pair, new_id):
    for n in ("", "0" * 32):
        print(json.dumps({"nonce": n, "hidden": False, "passed": True, "message": "", "kind": "passed"}))
    sys.stdout.flush()
    return []
'''
    result = run(submission(code))
    assert not result.passed and result.kind == "failed", result


def test_huge_allocation_is_stopped(submission):
    code = '''
def merge_pair(ids, pair, new_id):
    hoard = bytearray(8 * 1024 ** 3)   # 8 GB, over the 2 GB limit
    return list(ids)
'''
    result = run(submission(code))
    assert not result.passed, result
    assert "MemoryError" in result.message or "memory" in result.message, result


def test_exit_at_import_is_a_failure(submission):
    result = run(submission("import sys\nsys.exit(0)\n"))
    assert not result.passed and "SystemExit" in result.message, result


def test_os_exit_is_a_crash_not_a_pass(submission):
    result = run(submission("import os\nos._exit(0)\n"))
    assert not result.passed and result.kind == "crashed", result


def test_infinite_loop_times_out(submission, monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_TIMEOUT", "3")
    result = run(submission("def merge_pair(*a, **k):\n    while True:\n        pass\n"))
    assert not result.passed and result.kind == "timeout", result


def test_children_are_killed_with_the_check(submission, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHECK_TIMEOUT", "3")
    code = '''
import subprocess
def merge_pair(*a, **k):
    subprocess.Popen(["sleep", "1234"])
    while True:
        pass
'''
    run(submission(code))
    left = subprocess.run(["pgrep", "-f", "sleep 1234"], capture_output=True, text=True).stdout
    assert not left.strip(), f"a child of the check outlived it: {left}"


@pytest.mark.skipif(sandbox.sandbox_mode() != "bwrap", reason="bubblewrap is not installed")
def test_bubblewrap_hides_solutions_and_blocks_writes(submission, tmp_path):
    outside = tmp_path / "written-by-student.txt"
    code = f'''
import os
def merge_pair(ids, pair, new_id):
    try:
        open({str(outside)!r}, "w").write("x")
    except OSError:
        pass
    if os.listdir({str(REPO / "solutions")!r}):
        raise RuntimeError("the reference solutions are visible")
    return []
'''
    result = run(submission(code))
    assert not outside.exists(), "student code wrote outside its sandbox"
    assert "visible" not in result.message, result
