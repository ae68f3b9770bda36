"""Start a worker process for one student's code, limited and (where possible) sandboxed.

The judge (`grading.grade`) never imports student code. For each student it starts one worker,
``course_lib.checks.worker``, sends it the student's files *as text*, and runs every check of the
assignment through it (`course_lib.checks.remote.PipeConnection`). The worker has:

* its own process session, killed as a whole when the student is done, when a check runs past
  its time, or when the student's total time budget is used up;
* limits on address space (``--memory-mb``), file size, core dumps and CPU time;
* ``python -I``: no PYTHONPATH, no user site, no current directory on ``sys.path``;
* in mode ``bwrap`` (Debian's bubblewrap, the default when ``bwrap`` works): a read-only file
  system, no network, its own PID/IPC/UTS namespaces, a small private ``/tmp``, no capabilities,
  and the course repository (solutions, hidden checks, ``.git``), the grading folder (gradebook),
  the submissions folder and the home directory replaced by empty folders. It sees only Python,
  its libraries and the assignment's released package (the *worker root*).
* in mode ``rlimit`` (no bubblewrap: macOS, a plain Linux box) the limits above only; the
  worker can read and write what the instructor can. `grade` refuses this mode unless told
  ``--allow-unsandboxed`` (see grading/README.md: what each mode protects).
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.checks.remote import (
    CheckTimeout,
    PipeConnection,
    ProtocolError,
    StudentError,
    WorkerGone,
    _student_error,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Limits:
    """What one student's worker may use."""

    memory_mb: int = 4096          # address space per process
    file_mb: int = 16              # largest file it may write (its log included)
    import_timeout: float = 60.0   # seconds to import torch and the student's modules
    timeout_scale: float = 1.0     # multiplies every check's own timeout
    student_budget: float = 300.0  # seconds for all of one student's checks together
    tmp_mb: int = 16               # size of the private /tmp (bwrap mode)


def bwrap_works() -> bool:
    """True when bubblewrap is installed and can start a process here (cached)."""
    global _BWRAP_WORKS
    if _BWRAP_WORKS is None:
        if not shutil.which("bwrap"):
            _BWRAP_WORKS = False
        else:
            try:
                done = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                                       "true"], capture_output=True, timeout=30)
                _BWRAP_WORKS = done.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _BWRAP_WORKS = False
    return _BWRAP_WORKS


_BWRAP_WORKS: bool | None = None


def sandbox_mode() -> str:
    """'bwrap' when bubblewrap works and ``COURSE_SANDBOX`` is not ``none``, else 'rlimit'."""
    if os.environ.get("COURSE_SANDBOX", "auto") == "none":
        return "rlimit"
    return "bwrap" if bwrap_works() else "rlimit"


def become_subreaper() -> None:
    """Orphaned descendants of workers (double-forked daemons) are re-parented to this process,
    so that `kill_orphans` can find and stop them (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def kill_orphans(keep: set[int]) -> int:
    """Kill this process's direct children that are not in `keep` (re-parented orphans of
    student code, since we are a subreaper). Returns how many were killed."""
    killed = 0
    for child in _children_of(os.getpid()):
        if child not in keep:
            try:
                os.kill(child, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def _bwrap_prefix(worker_root: Path, hide: list[Path], tmp_mb: int) -> list[str]:
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--size", str(tmp_mb * 2**20), "--tmpfs", "/tmp",
            "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    hidden = []
    for path in [REPO, *hide, Path.home()]:
        path = Path(path).resolve()
        if path.exists() and path != Path("/") and path not in hidden:
            hidden.append(path)
    for path in sorted(hidden, key=lambda p: len(p.parts)):
        args += ["--size", str(2**20), "--tmpfs", str(path)]
    # What the worker needs, back on top of the hidden folders, read-only.
    needed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
              Path(sys.executable).resolve().parent, worker_root.resolve()}
    for path in sorted(needed, key=lambda p: len(p.parts)):
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    # The empty folders that hide things are read-only too (no memory to fill through them).
    for path in sorted(hidden, key=lambda p: len(p.parts)):
        args += ["--remount-ro", str(path)]
    args += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--chdir", "/tmp"]
    return args


WORKER_BOOT = ("import sys; sys.path[:0] = [sys.argv[1]]; "
               "from course_lib.checks.worker import main; sys.exit(main(sys.argv[2:]))")


@dataclass
class StudentWorker:
    """One running worker for one student's modules."""

    worker_root: Path
    sources: dict[str, str]
    order: list[str]
    log_path: Path
    limits: Limits = field(default_factory=Limits)
    mode: str = "rlimit"
    hide: list[Path] = field(default_factory=list)
    process: subprocess.Popen | None = None
    connection: PipeConnection | None = None
    import_errors: dict[str, StudentError] = field(default_factory=dict)

    def start(self) -> None:
        """Start the worker and install the student's modules. Raises CheckTimeout if the
        import does not finish in time, WorkerGone if the process dies first."""
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        command = [sys.executable, "-I", "-c", WORKER_BOOT, str(self.worker_root),
                   str(to_worker_r), str(from_worker_w)]
        if self.mode == "bwrap":
            command = _bwrap_prefix(self.worker_root, self.hide, self.limits.tmp_mb) + command
        env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "COURSE_DEVICE": "cpu", "COURSE_MODE": "smoke",
               "MPLBACKEND": "agg", "LANG": "C.UTF-8", "HOME": "/tmp"}
        limits = self.limits
        cpu_seconds = int(limits.import_timeout + limits.student_budget * 2 + 30)

        def limit_child() -> None:  # runs in the child, before exec
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * 2**20,) * 2)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 2**20,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    pass_fds=(to_worker_r, from_worker_w), preexec_fn=limit_child, start_new_session=True,
                    cwd="/tmp" if self.mode == "bwrap" else str(self.worker_root))
            finally:
                os.close(to_worker_r)
                os.close(from_worker_w)
        self.connection = PipeConnection(to_worker_w, from_worker_r)
        connection = self.connection
        connection.deadline = time.monotonic() + limits.import_timeout
        try:
            report = connection.request({"modules": self.sources, "order": self.order})
        finally:
            connection.deadline = None
        if type(report) is not dict:
            raise ProtocolError("the worker's import report is not a dict")
        for name in self.order:
            data = report.get(name)
            if data is not None:
                self.import_errors[name] = _student_error(data)

    def stop(self) -> None:
        """Kill the worker and everything it started; close the pipes."""
        if self.process is not None:
            for target in (lambda: os.killpg(self.process.pid, signal.SIGKILL),
                           lambda: self.process.kill()):
                try:
                    target()
                except (ProcessLookupError, PermissionError, OSError):
                    pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
                pass
        if self.connection is not None:
            for fd in (self.connection.to_worker, self.connection.from_worker):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.connection = None


__all__ = ["Limits", "StudentWorker", "sandbox_mode", "bwrap_works", "become_subreaper", "kill_orphans",
           "CheckTimeout", "WorkerGone", "ProtocolError"]
