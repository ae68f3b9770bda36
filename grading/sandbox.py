"""Run one check on a student's code in a separate, limited process.

The autograder never imports student code into a process that judges. Each test cell of an
assignment calls ``check(name)``; in grading mode (``COURSE_GRADING=1``) that comes here, and the
check runs in a fresh worker process (`grading.check_worker`) with:

* a wall-clock limit (``COURSE_CHECK_TIMEOUT`` seconds, default 120): an infinite loop costs that
  exercise, not the class;
* an address-space limit (``COURSE_CHECK_MEMORY_MB``, default 6144) and a file-size limit;
* its own session, so that a timeout kills every process it started;
* when Debian's ``bwrap`` (bubblewrap) is installed and ``COURSE_SANDBOX`` is not ``none``: a
  read-only file system, no network, private /tmp, /proc and process namespace, and the course
  directory (gradebook, other students' work) and the reference solutions hidden behind empty
  folders. Without bwrap the limits above still hold (the grader says which mode it used).

The worker reports its verdict as one JSON line on a pipe (``COURSE_RESULT_FD``) that only it and
this process hold; output the student's code prints goes to a capped log, never into the verdict.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT_LIMIT = 64 * 1024  # characters of the worker's output kept for the message


def limits(environ=None) -> dict:
    """The limits in force, read from `environ` (default: this process's environment)."""
    environ = os.environ if environ is None else environ

    def number(name: str, default: float) -> float:
        try:
            return float(environ.get(name, default))
        except ValueError:
            raise ValueError(f"{name} must be a number, not {environ.get(name)!r}") from None

    return {
        "timeout": number("COURSE_CHECK_TIMEOUT", 120),
        "memory_mb": int(number("COURSE_CHECK_MEMORY_MB", 6144)),
        "file_mb": int(number("COURSE_CHECK_FILE_MB", 64)),
    }


def sandbox_mode() -> str:
    """'bwrap' when bubblewrap is usable and allowed, else 'rlimit'."""
    if os.environ.get("COURSE_SANDBOX", "auto") == "none":
        return "rlimit"
    return "bwrap" if shutil.which("bwrap") else "rlimit"


def _bwrap_prefix(workdir: Path) -> list[str]:
    """bubblewrap arguments: read-only root, hidden course dir and solutions, private /tmp."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--unshare-all", "--die-with-parent", "--new-session"]
    # The private /tmp must not hide what the worker needs when it lives under /tmp (a venv, a
    # clone of the course): bind Python's installation and the course repository back, read-only.
    for needed in sorted({Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, REPO}):
        if needed.exists():
            args += ["--ro-bind", str(needed), str(needed)]
    hide = [Path(p) for p in os.environ.get("COURSE_SANDBOX_HIDE", "").split(os.pathsep) if p]
    hide.append(REPO / "solutions")
    for path in hide:
        if path.exists():
            args += ["--tmpfs", str(path)]
    # The student's own folder stays visible (read-only), even inside a hidden course directory.
    args += ["--ro-bind", str(workdir), str(workdir)]
    hidden_checks = os.environ.get("COURSE_HIDDEN_CHECKS")
    if hidden_checks and Path(hidden_checks).exists():
        args += ["--ro-bind", hidden_checks, hidden_checks]
    args += ["--chdir", str(workdir)]
    return args


def _set_limits(memory_mb: int, file_mb: int) -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20, file_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# Verdicts the worker gave ahead of being asked: a test cell asks for the public check, then
# the hidden one; one worker answers both (half the process start-ups). This cache lives in the
# judging kernel, which never imports student code.
_ANSWERED: dict[tuple[str, str, bool], "object"] = {}


def run_check_isolated(name: str, hidden: bool = False, workdir: str | os.PathLike | None = None):
    """Run the checks called `name` on the `course_lib` found in `workdir` (default: the current
    directory) in a limited worker process; return a `CheckResult` (never raises for student faults).

    When hidden checks are available (``COURSE_HIDDEN_CHECKS``), asking for the public check also
    runs the hidden one in the same worker and keeps its verdict for the call that follows.
    """
    workdir = Path(workdir or os.getcwd()).resolve()
    key = (str(workdir), name, hidden)
    if key in _ANSWERED:
        return _ANSWERED.pop(key)
    both = not hidden and bool(os.environ.get("COURSE_HIDDEN_CHECKS"))
    flags = ["--public", "--hidden"] if both else (["--hidden"] if hidden else ["--public"])
    results = _run_worker(name, flags, workdir)
    if both:
        _ANSWERED[(str(workdir), name, True)] = results[True]
    return results[hidden]


def _run_worker(name: str, flags: list[str], workdir: Path) -> dict:
    """Start one worker for `flags` and return {hidden: CheckResult} for each flag."""
    from course_lib.checks.framework import CheckResult

    lim = limits()
    nonce = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_SANDBOX")}
    # The student's course_lib first, then the course repository (for `grading` itself).
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), str(REPO)])
    env["COURSE_GRADING"] = "0"  # inside the worker, checks run in-process
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [sys.executable, "-m", "grading.check_worker", name, *flags]
    if sandbox_mode() == "bwrap":
        command = _bwrap_prefix(workdir) + command
    read_end, write_end = os.pipe()
    env["COURSE_RESULT_FD"] = str(write_end)  # the worker writes its verdict here

    def child_setup() -> None:
        _set_limits(lim["memory_mb"], lim["file_mb"])

    with tempfile.TemporaryFile(mode="w+b") as log:
        try:
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(write_end,), preexec_fn=child_setup, start_new_session=True,
            )
        except OSError as err:
            os.close(read_end)
            os.close(write_end)
            failed = CheckResult(name, False, f"the grader could not start the check ({err})", "error")
            return {flag == "--hidden": failed for flag in flags}
        os.close(write_end)
        try:
            process.stdin.write((nonce + "\n").encode())
            process.stdin.close()
        except BrokenPipeError:
            pass
        timed_out = False
        try:
            process.wait(timeout=lim["timeout"])
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        with os.fdopen(read_end, "rb") as pipe:
            raw = pipe.read(1_000_000).decode("utf-8", errors="replace")
        log.seek(0, os.SEEK_END)
        size = log.tell()
        log.seek(max(0, size - OUTPUT_LIMIT))
        output = log.read().decode("utf-8", errors="replace")

    verdicts: dict[bool, CheckResult] = {}
    for line in raw.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("nonce") == nonce and "hidden" in data:
            verdicts[bool(data["hidden"])] = CheckResult(
                name, bool(data.get("passed")), str(data.get("message", "")), str(data.get("kind", "failed")))
    for flag in flags:
        hidden = flag == "--hidden"
        if hidden in verdicts:
            continue
        if timed_out:
            verdicts[hidden] = CheckResult(name, False, f"gave up after {lim['timeout']:.0f} s: your code may "
                                           "loop forever or be far too slow", "timeout")
            continue
        code = process.returncode
        why = (f"was killed by signal {-code}" if code and code < 0 else f"exited with code {code}")
        tail = output.strip().splitlines()[-3:]
        hint = " (out of memory?)" if "MemoryError" in output or code == -signal.SIGKILL else ""
        verdicts[hidden] = CheckResult(name, False, f"the check's process {why} before giving a verdict{hint}"
                                       + (": " + " | ".join(tail) if tail else ""), "crashed")
    return verdicts
