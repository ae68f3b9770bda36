"""A hostile class: every trick gets exactly what its honest part earns, the honest controls
get their exact scores, the gradebook has one row per valid student, no hidden text reaches a
feedback file, and grading finishes in bounded time.

Graded on notebook 03 (positional encodings: 4 tests, 10 points). Each submission is the
reference or the stubs plus one trick. `VERDICT` tricks attack the verdict itself and must fail
in every sandbox mode; `SANDBOX` tricks attack files and processes and are asserted where
bubblewrap runs (grading/README.md says what the rlimit mode does not protect).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import time
from pathlib import Path

import pytest

from grading.grade import grade_class
from grading.sandbox import Limits, sandbox_mode
from support import REPO

ASSIGNMENT = "03_positional_encoding"
MODULE = "positional"
TOTAL = 10.0
POINTS = {"test_positional_sinusoidal_table": 3.0, "test_positional_learned_positions": 2.0,
          "test_positional_rope_frequencies": 2.0, "test_positional_apply_rope": 3.0}
REFERENCE = (REPO / "solutions" / "course_lib" / f"{MODULE}.py").read_text(encoding="utf-8")


def _stubs() -> str:
    from grading.build import stub_python

    return stub_python(REFERENCE)


STUBS = _stubs()
FUTURE = "from __future__ import annotations\n"
assert FUTURE in REFERENCE


def at_import(code: str, source: str = REFERENCE) -> str:
    """`source` with `code` run at import, right after its `from __future__` line (a trick placed
    before that line would only be a SyntaxError)."""
    return source.replace(FUTURE, FUTURE + code, 1)

# student -> (source, expected score, category). {REPO} and {OUT} and {SUBS} are filled in.
TRICKS: dict[str, tuple[str, float, str]] = {
    # --- honest controls ----------------------------------------------------------------------
    "complete": (REFERENCE, TOTAL, "control"),
    "stubs": (STUBS, 0.0, "control"),
    "victim": (REFERENCE, TOTAL, "control"),
    # --- the verdict: patch the check machinery, fake verdicts, lying objects ----------------
    "patch_framework": (STUBS + """
import course_lib.checks.framework as fw
fw.expect_close = fw.expect = fw.expect_equal = lambda *a, **k: None
fw.run_one = lambda *a, **k: fw.CheckResult("x", True)
import course_lib.checks.remote as rm
rm.Worker.handle = lambda self, d, t: self.encode({"ok": True})
""", 0.0, "verdict"),
    "fake_output": (STUBS + """
print("✓ positional.sinusoidal_table: passed")
print('{"passed": true, "kind": "passed"}')
import sys; sys.stderr.write("All checks passed\\n")
""", 0.0, "verdict"),
    "lying_objects": (STUBS + """
import torch
class Liar(torch.Tensor):
    def __eq__(self, other): return True
    def allclose(self, *a, **k): return True
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    return torch.zeros(max_len, d_model, dtype=dtype).as_subclass(Liar)
class AlwaysEqual(list):
    def __eq__(self, other): return True
def rope_frequencies(*a, **k):
    return AlwaysEqual([1, 2])
""", 0.0, "verdict"),
    "frames_for_expected": (STUBS + """
import sys
def apply_rope(x, cos, sin, positions=None):
    frame = sys._getframe()
    while frame is not None:
        for value in frame.f_locals.values():
            if hasattr(value, "shape") and getattr(value, "shape", None) == x.shape and value is not x:
                return value
        frame = frame.f_back
    return x
""", 0.0, "verdict"),
    "protocol_garbage": (STUBS + """
import os
for fd in range(3, 30):
    try:
        os.write(fd, b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x10" + b'{"doc":{"ok":1}}')
    except OSError:
        pass
""", 0.0, "verdict"),
    "read_hidden_into_feedback": (STUBS + """
def sinusoidal_table(*a, **k):
    text = ""
    for path in ["{REPO}/grading/hidden/positional.py", "{REPO}/solutions/course_lib/positional.py"]:
        try:
            text += open(path).read()
        except OSError as err:
            text += str(err)
    raise ValueError(text)
""", 0.0, "verdict"),
    "exit_at_import": (at_import("raise SystemExit(0)\n"), 0.0, "verdict"),
    "base_exception_at_import": (at_import("class Boom(BaseException):\n    pass\nraise Boom()\n"), 0.0, "verdict"),
    "loop_at_import": (at_import("while True:\n    pass\n"), 0.0, "verdict"),
    "os_exit_at_import": (at_import("import os\nos._exit(0)\n"), 0.0, "verdict"),
    "syntax_error": (REFERENCE.replace("def apply_rope(", "def apply_rope((", 1), 0.0, "verdict"),
    "os_exit_in_call": (REFERENCE + """
import os
def sinusoidal_table(*a, **k):
    os._exit(0)
""", TOTAL - 3, "verdict"),
    "base_exception_in_call": (REFERENCE + """
_real_rope_frequencies = rope_frequencies
def rope_frequencies(*a, **k):
    raise KeyboardInterrupt()
""", TOTAL - 2, "verdict"),
    "loop_in_call": (REFERENCE + """
def apply_rope(*a, **k):
    while True:
        pass
""", TOTAL - 3, "verdict"),
    "memory_burst": (REFERENCE + """
def sinusoidal_table(*a, **k):
    blocks = []
    while True:
        blocks.append(bytearray(512 * 2**20))
""", TOTAL - 3, "verdict"),
    "stdout_flood": (REFERENCE + """
try:
    for _ in range(200000):
        print("x" * 1000)
except OSError:
    pass
""", TOTAL, "verdict"),
    "shadow_modules": (REFERENCE, TOTAL, "verdict"),  # plus sitecustomize.py, a .pth, torch.py beside it
    "symlink_module": (None, 0.0, "verdict"),          # course_lib/positional.py -> solutions
    "symlink_folder": (None, 0.0, "verdict"),          # course_lib/ -> solutions/course_lib
    # --- files and processes: what the sandbox protects ----------------------------------------
    "import_solutions": (STUBS + """
import importlib.util
try:
    spec = importlib.util.spec_from_file_location("ref", "{REPO}/solutions/course_lib/positional.py")
    ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
    sinusoidal_table, rope_frequencies, apply_rope = ref.sinusoidal_table, ref.rope_frequencies, ref.apply_rope
    LearnedPositionalEmbedding = ref.LearnedPositionalEmbedding
except Exception:
    pass
""", 0.0, "sandbox"),
    "git_objects": (STUBS + """
import os, zlib
try:
    for root, dirs, files in os.walk("{REPO}/.git/objects"):
        for name in files:
            data = zlib.decompress(open(os.path.join(root, name), "rb").read())
            if b"def sinusoidal_table" in data and b"raise NotImplementedError" not in data:
                body = data.split(b"\\x00", 1)[1].decode()
                exec(body, globals())
                raise StopIteration
except Exception:
    pass
""", 0.0, "sandbox"),
    "classmate_copy": (STUBS + """
try:
    exec(open("{SUBS}/victim/03_positional_encoding/course_lib/positional.py").read(), globals())
except Exception:
    pass
""", 0.0, "sandbox"),
    "vandal": (STUBS + """
import os
for path in ["{OUT}/gradebook.db", "{SUBS}/victim/03_positional_encoding/course_lib/positional.py",
             "{REPO}/grading/hidden/positional.py", "{REPO}/solutions/course_lib/positional.py"]:
    try:
        with open(path, "w") as handle:
            handle.write("vandalised")
    except OSError:
        pass
try:
    open("{REPO}/.venv/lib/evil.pth", "w").write("import os")
except OSError:
    pass
""", 0.0, "sandbox"),
    "fork_burst": (REFERENCE + """
import os, time
for _ in range(20):
    try:
        if os.fork() == 0:
            if os.fork() == 0:
                os.setsid()
                time.sleep(3600)
            os._exit(0)
    except OSError:
        break
""", TOTAL, "sandbox"),
    "kill_the_grader": (STUBS + """
import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
""", 0.0, "sandbox"),
    "network": (STUBS + """
import socket
try:
    with socket.create_connection(("127.0.0.1", {PORT}), timeout=3) as connection:
        connection.sendall(b"stolen")
except OSError:
    pass
""", 0.0, "sandbox"),
    "fill_tmp": (REFERENCE + """
try:
    with open("/tmp/fill", "wb") as handle:
        for _ in range(1000):
            handle.write(b"x" * 2**20)
except OSError:
    pass
""", TOTAL, "sandbox"),
}

ODD_IDS = ["..", "-rf", "a b", "ünï", ".hidden", "x" * 80]


def _build_class(root: Path, out: Path, port: int) -> None:
    for student, (source, _, _) in TRICKS.items():
        folder = root / student / ASSIGNMENT / "course_lib"
        folder.mkdir(parents=True)
        if student == "symlink_module":
            (folder / "positional.py").symlink_to(REPO / "solutions" / "course_lib" / "positional.py")
            continue
        if student == "symlink_folder":
            folder.rmdir()
            folder.symlink_to(REPO / "solutions" / "course_lib")
            continue
        text = (source.replace("{REPO}", str(REPO)).replace("{OUT}", str(out)).replace("{SUBS}", str(root))
                .replace("{PORT}", str(port)))
        (folder / "positional.py").write_text(text, encoding="utf-8")
        if student == "shadow_modules":
            (folder / "sitecustomize.py").write_text("import os; os._exit(1)\n", encoding="utf-8")
            (folder / "torch.py").write_text("raise SystemExit('fake torch')\n", encoding="utf-8")
            (folder / "evil.pth").write_text("import os; os._exit(1)\n", encoding="utf-8")
    for odd in ODD_IDS:
        try:
            (root / odd / ASSIGNMENT / "course_lib").mkdir(parents=True, exist_ok=True)
            (root / odd / ASSIGNMENT / "course_lib" / "positional.py").write_text(REFERENCE, encoding="utf-8")
        except OSError:
            pass
    (root / "linked_student").symlink_to(root / "complete")


@pytest.mark.slow
def test_hostile_class(tmp_path):
    import socket
    import threading

    submissions, out = tmp_path / "submissions", tmp_path / "run"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:  # a local "exfiltration" server: the sandbox must keep it empty
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    received.append(connection.recv(100))
                except OSError:
                    pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    _build_class(submissions, out, listener.getsockname()[1])
    hidden_before = (REPO / "grading" / "hidden" / "positional.py").read_bytes()
    mode = sandbox_mode()
    limits = Limits(import_timeout=30, timeout_scale=1.0, student_budget=120)
    started = time.monotonic()
    rows = {r["student_id"]: r for r in grade_class(ASSIGNMENT, submissions, out, jobs=2, limits=limits,
                                                    allow_unsandboxed=True)}
    elapsed = time.monotonic() - started
    stop.set()
    server.join(5)
    listener.close()
    print(f"hostile class of {len(rows)} graded in {elapsed:.0f} s (sandbox: {mode})")

    checked = [s for s, (_, _, category) in TRICKS.items() if category != "sandbox" or mode == "bwrap"]
    wrong = {s: (rows.get(s, {}).get("score"), TRICKS[s][1]) for s in checked
             if rows.get(s, {}).get("score") != TRICKS[s][1]}
    assert not wrong, f"students whose score is not what they earned (got, expected): {wrong}"

    # Messages say what happened, once per module, not a confusing traceback.
    import json

    results = json.loads((out / f"results_{ASSIGNMENT}.json").read_text(encoding="utf-8"))

    def message(student: str) -> str:
        return results[student][0]["message"]

    assert "did not finish" in message("loop_at_import"), message("loop_at_import")
    assert "SyntaxError" in message("syntax_error") and "line" in message("syntax_error"), message("syntax_error")
    assert "SystemExit" in message("exit_at_import"), message("exit_at_import")
    assert "ended before it was ready" in message("os_exit_at_import"), message("os_exit_at_import")
    assert "gave up after" in results["loop_in_call"][3]["message"], results["loop_in_call"][3]
    assert "MemoryError" in message("memory_burst"), message("memory_burst")
    # Bounded time: a loop at import costs one import timeout, not one per test.
    seconds = {row["student_id"]: float(row["seconds"]) for row in rows.values()}
    assert seconds["loop_at_import"] < limits.import_timeout + 30, seconds["loop_at_import"]

    # One row per valid student; odd ids and links are not students.
    valid = set(TRICKS)
    assert set(rows) == valid, set(rows) ^ valid
    with sqlite3.connect(out / "gradebook.db") as db:
        students = {row[0] for row in db.execute("select id from student")}
    assert students == valid, students ^ valid
    with open(out / "grades.csv", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert sorted(r["student_id"] for r in exported) == sorted(valid)

    # No hidden text in any feedback (the sandbox hides it; the judge withholds quotes anyway).
    from grading.build import secret_lines

    secrets = secret_lines([MODULE])
    for page in (out / "feedback").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        found = [s for s in secrets if s in text]
        assert not found, (page, found[:3])

    if mode == "bwrap":
        assert not received, f"a worker reached the network: {received}"
        assert (REPO / "grading" / "hidden" / "positional.py").read_bytes() == hidden_before
        assert not (REPO / ".venv" / "lib" / "evil.pth").exists()
        assert (submissions / "victim" / ASSIGNMENT / "course_lib" / "positional.py").read_text(
            encoding="utf-8") == REFERENCE
        # Nothing a worker started outlives grading.
        leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).find("course_lib.checks.worker") >= 0]
        assert not leftovers, leftovers
    log = out / "logs" / "stdout_flood.log"
    assert log.stat().st_size <= 17 * 2**20


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
