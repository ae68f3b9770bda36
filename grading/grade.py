"""Grade a whole class, headless, with nbgrader.

    python -m grading grade 01_tokenization path/to/submissions --out path/to/grading-run

``submissions/`` holds one folder per student, named by student id; each contains what the
student handed in: the assignment folder as released (``01_tokenization.ipynb`` and
``course_lib/``), either directly or inside a folder named after the assignment. What is graded
is the student's exercise module(s) (``course_lib/tokenization.py`` for 01); the notebook is the
lesson, and the grader always runs the assignment's own test cells, so a broken or edited
notebook costs nothing and fools nothing.

It writes, under ``--out`` (an nbgrader course directory, safe to rerun):

* ``gradebook.db``       nbgrader's SQLite gradebook
* ``grades.csv``         nbgrader's export (one row per student and assignment)
* ``grades_<assignment>.csv``  one row per student: each test's score, the total and a status
* ``feedback/<student>/<assignment>/*.html``  nbgrader's feedback, hidden tests removed
* ``logs/<student>.log`` what nbgrader said while grading that student

How untrusted code is contained: nbgrader runs the notebook in a kernel that never imports
student code (the notebook is reduced to its setup and test cells); every test cell runs its
checks in a separate process with a time and memory limit (see `grading.sandbox`). Each student
is graded by a separate ``nbgrader autograde`` process with its own overall time limit, so one
submission can neither stop nor slow down the grading of the others.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from grading.build import NOTEBOOK_STUB
from grading.sandbox import limits, sandbox_mode

REPO = Path(__file__).resolve().parent.parent
SOURCE_ROOT = REPO / "grading" / "nbgrader" / "source"
HIDDEN_CHECKS = REPO / "grading" / "hidden"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

CONFIG_TEMPLATE = """\
# Written by `python -m grading grade`; rewritten on every run.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "course"
c.CourseDirectory.db_url = {db_url!r}
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# The students' exercise modules are theirs: never overwrite them with the source versions.
# Everything else (the checks, the rest of course_lib) is restored from the instructor's copy.
c.Autograde.exclude_overwriting = {exclude!r}
# A test cell runs a public and a hidden check, each limited to COURSE_CHECK_TIMEOUT seconds.
c.Execute.timeout = {cell_timeout}
c.Execute.interrupt_on_timeout = True
# Feedback goes to students: remove the hidden tests from it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "grading.feedback.ShortenTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.ClearHiddenTests.enforce_metadata = False
# The same stub as the student notebooks in notebooks/ (grading/build.py: NOTEBOOK_STUB).
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
"""


def load_assignments() -> dict:
    return json.loads((REPO / "grading" / "nbgrader" / "assignments.json").read_text(encoding="utf-8"))


def grading_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook the autograder runs: only nbgrader's setup and test cells of `path`."""
    nb = nbformat.read(path, as_version=4)
    kept = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("grade") or meta.get("locked")):
            kept.append(cell)
    graded = copy.deepcopy(nb)
    graded.cells = kept
    return graded


def _submission_root(folder: Path, assignment: str) -> Path:
    inner = folder / assignment
    return inner if inner.is_dir() else folder


def _run(command: list[str], cwd: Path, env: dict, timeout: float, log: Path | None = None) -> tuple[int, str]:
    """Run a command in its own session; kill the whole group on timeout. Returns (code, output)."""
    with open(log, "a", encoding="utf-8") if log else open(os.devnull, "w") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True, text=True,
                                   errors="replace")
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
            output += f"\n[grader] stopped after {timeout:.0f} s\n"
            sink.write(output)
            return 124, output
        sink.write(output)
    return process.returncode, output


def _nbgrader(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


def prepare_course(assignment: str, out: Path, env: dict, *, trimmed: bool) -> Path:
    """Make `out` an nbgrader course folder with `assignment` generated (gradebook + release).

    With `trimmed`, the source notebook is reduced to its setup and test cells first: that is
    what the autograder runs. Without, the release is the full lesson, as students receive it.
    Returns the release folder.
    """
    info = load_assignments()[assignment]
    per_check = limits(env)["timeout"]
    cell_timeout = int(2 * per_check + 60)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG_TEMPLATE.format(
        root=str(out), db_url=f"sqlite:///{out / 'gradebook.db'}",
        exclude={assignment: info["student_files"]}, cell_timeout=cell_timeout,
        code_stub=NOTEBOOK_STUB), encoding="utf-8")
    source = out / "source" / assignment
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(SOURCE_ROOT / assignment, source)
    if trimmed:
        notebook = source / info["notebook"]
        nbformat.write(grading_notebook(notebook), notebook)
    code, output = _run(_nbgrader("generate_assignment", assignment, "--force"), out, env, 600,
                        out / "logs" / "_generate_assignment.log")
    if code != 0:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{output[-3000:]}")
    return out / "release" / assignment


def grading_env(check_timeout: float | None = None, memory_mb: int | None = None,
                hide: Path | None = None) -> dict:
    """The environment of nbgrader and the kernels it starts, in grading mode."""
    env = dict(os.environ)
    env.update({
        "COURSE_GRADING": "1",
        "COURSE_HIDDEN_CHECKS": str(HIDDEN_CHECKS),
        "COURSE_MODE": "quick",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if hide is not None:
        env["COURSE_SANDBOX_HIDE"] = str(hide)
    # The kernel imports course_lib from its working folder (the submission, sys.path[0]) and
    # the grader's own modules from the repository, whether or not it was pip-installed.
    env["PYTHONPATH"] = str(REPO)
    # nbgrader runs helper programs (alembic, jupyter) by name: find this environment's first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if check_timeout is not None:
        env["COURSE_CHECK_TIMEOUT"] = str(check_timeout)
    if memory_mb is not None:
        env["COURSE_CHECK_MEMORY_MB"] = str(memory_mb)
    return env


PREFLIGHT = """
import json, sys
from grading.sandbox import run_check_isolated, sandbox_mode
result = run_check_isolated(sys.argv[1] + ".__preflight__")
print(json.dumps({"kind": result.kind, "message": result.message, "sandbox": sandbox_mode()}))
"""


def preflight(module: str, workdir: Path, env: dict) -> None:
    """Prove, before grading anyone, that a check worker starts, runs and reports here.

    It asks the worker for a check that does not exist, in the released assignment: the only
    acceptable answer is the worker's own "no check named ..." verdict. Anything else (grading
    not importable, the sandbox unable to start Python) would otherwise give every student zero.
    """
    code, output = _run([sys.executable, "-c", PREFLIGHT, module], workdir, env, 300)
    try:
        report = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {"kind": "crashed", "message": output[-2000:]}
    if code != 0 or "__preflight__" not in report.get("message", "") or report.get("kind") != "error":
        raise SystemExit(
            "The grader cannot run checks on this machine, so it stopped before grading anyone.\n"
            f"What the check worker said: {report.get('message', '')[-2000:]}\n"
            "Is the course installed in this Python (`make` does it)? If bubblewrap is the problem, "
            "try COURSE_SANDBOX=none (time and memory limits still apply).")


def release(assignment: str, out: Path) -> Path:
    """Generate the student release of `assignment` under `out` (an nbgrader course folder)."""
    if assignment not in load_assignments():
        raise SystemExit(f"Unknown assignment {assignment!r}; known: {', '.join(sorted(load_assignments()))}")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    return prepare_course(assignment, out, grading_env(), trimmed=False)


def grade_class(assignment: str, submissions: Path, out: Path, *, check_timeout: float | None = None,
                memory_mb: int | None = None, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Grade every student folder in `submissions`; return one row per student (also in CSV).

    `jobs` students are graded at once (each in its own nbgrader process).
    """
    assignments = load_assignments()
    if assignment not in assignments:
        raise SystemExit(f"Unknown assignment {assignment!r}; known: {', '.join(sorted(assignments))}")
    if not submissions.is_dir():
        raise SystemExit(f"No submissions folder at {submissions}")
    info = assignments[assignment]
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = grading_env(check_timeout, memory_mb, hide=out)
    per_check = limits(env)["timeout"]
    student_timeout = 120 + len(info["tests"]) * int(2 * per_check + 60)
    release_dir = prepare_course(assignment, out, env, trimmed=True)
    preflight(info["modules"][0], release_dir, env)
    release_notebook = release_dir / info["notebook"]

    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    bad = [s for s in students if not STUDENT_ID.match(s)]
    if bad:
        raise SystemExit(f"Not valid student ids (letters, digits, _ . -): {bad}")
    if not students:
        raise SystemExit(f"No student folders in {submissions}")

    # Register the whole class in one nbgrader call (one process instead of one per student).
    roster = out / "logs" / "_students.csv"
    roster.write_text("id\n" + "".join(f"{s}\n" for s in students), encoding="utf-8")
    code, output = _run(_nbgrader("db", "student", "import", str(roster)), out, env, 300,
                        out / "logs" / "_students.log")
    if code != 0:
        raise SystemExit(f"nbgrader could not register the students:\n{output[-2000:]}")

    def grade_one(student: str) -> tuple[str, float, str]:
        started = time.monotonic()
        log = out / "logs" / f"{student}.log"
        target = out / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        root = _submission_root(submissions / student, assignment)
        for rel in info["student_files"]:
            handed_in = root / rel
            if handed_in.is_file() and not handed_in.is_symlink():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(handed_in, target / rel)
        shutil.copyfile(release_notebook, target / info["notebook"])
        code, output = _run(_nbgrader("autograde", assignment, "--student", student, "--force"),
                            out, env, student_timeout, log)
        if code == 0:
            status = "graded"
        elif code == 124:
            status = "grader timeout"
        else:
            status = "database busy" if "database is locked" in output else "grader error"
        return student, time.monotonic() - started, status

    statuses: dict[str, str] = {}
    start_all = time.monotonic()
    for student in students:
        (out / "logs" / f"{student}.log").write_text("", encoding="utf-8")
    done = 0
    # Students are independent: with jobs > 1, several autograde processes run at once (each with
    # its own kernel and check workers). They share nbgrader's SQLite gradebook, whose writes are
    # short; one that still finds the database locked is graded again, alone, at the end.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for student, seconds, status in pool.map(grade_one, students):
            done += 1
            statuses[student] = status
            if progress:
                print(f"[{done}/{len(students)}] {student}: {status} ({seconds:.1f} s)", flush=True)
    for student in [s for s, status in statuses.items() if status == "database busy"]:
        _, seconds, statuses[student] = grade_one(student)
        if progress:
            print(f"[again] {student}: {statuses[student]} ({seconds:.1f} s)", flush=True)

    _run(_nbgrader("generate_feedback", assignment, "--force"), out, env, 600, out / "logs" / "_feedback.log")
    # nbgrader copies the graded folder's other files next to the report; the report is the feedback.
    for path in sorted((out / "feedback").glob(f"*/{assignment}/*")):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.suffix != ".html":
            path.unlink()
    _run(_nbgrader("export", "--to", str(out / "grades.csv")), out, env, 600, out / "logs" / "_export.log")
    rows = _write_breakdown(assignment, info, out, students, statuses)
    if progress:
        print(f"Graded {len(students)} submission(s) in {time.monotonic() - start_all:.1f} s "
              f"(sandbox: {sandbox_mode()}); grades in {out / f'grades_{assignment}.csv'}")
    return rows


def _write_breakdown(assignment: str, info: dict, out: Path, students: list[str],
                     statuses: dict[str, str]) -> list[dict]:
    """Per-test scores from the gradebook, one row per student."""
    from nbgrader.api import Gradebook, MissingEntry

    notebook_id = Path(info["notebook"]).stem
    rows = []
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "course") as gradebook:
        for student in students:
            row = {"student_id": student, "status": statuses.get(student, "not graded")}
            total = 0.0
            for test in info["tests"]:
                try:
                    grade = gradebook.find_grade(test["grade_id"], notebook_id, assignment, student)
                    score = float(grade.score or 0.0)
                except MissingEntry:
                    score = 0.0
                    if row["status"] == "graded":
                        row["status"] = "incomplete"
                row[test["grade_id"]] = score
                total += score
            row["score"] = total
            row["max_score"] = info["total_points"]
            rows.append(row)
    fields = ["student_id", "score", "max_score", "status"] + [t["grade_id"] for t in info["tests"]]
    with open(out / f"grades_{assignment}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="e.g. 01_tokenization")
    parser.add_argument("submissions", type=Path, help="a folder with one sub-folder per student")
    parser.add_argument("--out", type=Path, required=True, help="the nbgrader course folder to write")
    parser.add_argument("--check-timeout", type=float, help="seconds per check (default 120)")
    parser.add_argument("--memory-mb", type=int, help="address-space limit per check (default 6144)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="students graded at once (default 1; up to the number of cores is sensible)")
    args = parser.parse_args(argv)
    rows = grade_class(args.assignment, args.submissions, args.out, check_timeout=args.check_timeout,
                       memory_mb=args.memory_mb, jobs=args.jobs)
    width = max(len(r["student_id"]) for r in rows)
    for row in rows:
        print(f"  {row['student_id']:<{width}}  {row['score']:g}/{row['max_score']:g}  {row['status']}")
    return 0


def release_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading release",
                                     description="Generate the student release of an assignment with nbgrader.")
    parser.add_argument("assignment", help="e.g. 01_tokenization")
    parser.add_argument("--out", type=Path, required=True, help="the nbgrader course folder to write")
    args = parser.parse_args(argv)
    folder = release(args.assignment, args.out)
    print(f"Release written to {folder}: hand this folder to students.")
    return 0
