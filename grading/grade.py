"""Release an assignment, and grade a whole class, with the verdict always in the judge.

    python -m grading release 05_encoder --out my-course [--earlier reference|stubs]
    python -m grading grade 05_encoder submissions/ --out my-course [--jobs 2] [--roster ids.txt]

``submissions/`` holds one folder per student, named by student id, with what the student
handed in (the released folder, or its contents). Only the assignment's exercise modules are
read (``course_lib/encoder.py`` for 05), as regular files of bounded size, never through a
symbolic link; the notebook is the lesson and is not graded.

How a student is graded: the judge (this process) reads their files as text, starts one worker
process (`grading.sandbox`) that installs them as ``course_lib.<module>`` next to the
assignment's released package (earlier modules: the reference), and runs each test of the
assignment (its public check, then its hidden checks) through that worker. The checks' inputs,
expected values, oracles and comparisons are all here; the worker only ever returns plain data.
A module that fails (or hangs) at import is detected once; a check that runs past its time or
crashes the worker costs that test, and a fresh worker takes the next one; every student has a
total time budget.

It writes, under ``--out`` (an nbgrader course folder; rerunning is safe):

* ``gradebook.db``               nbgrader's gradebook (scores per test cell)
* ``grades.csv``                 nbgrader's export
* ``grades_<assignment>.csv``    one row per student: each test's score, total, status
* ``feedback/<student>/<assignment>/<assignment>.html``  each test, its points and message
* ``logs/<student>.log``         what the student's code printed (size-limited)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading import build
from grading.sandbox import (
    CheckTimeout,
    Limits,
    ProtocolError,
    StudentWorker,
    WorkerGone,
    become_subreaper,
    kill_orphans,
    sandbox_mode,
)

REPO = Path(__file__).resolve().parent.parent
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SOURCE_BYTES = 1_000_000

CONFIG_TEMPLATE = """\
# Written by `python -m grading`; rewritten on every run.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "course"
c.CourseDirectory.db_url = {db_url!r}
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
"""


def load_assignments() -> dict:
    return build.assignments_info()


def _assignment(assignment: str) -> dict:
    assignments = load_assignments()
    if assignment not in assignments:
        raise SystemExit(f"Unknown assignment {assignment!r}; known: {', '.join(sorted(assignments))}")
    return assignments[assignment]


# ---------------------------------------------------------------------------------------------
# Release: nbgrader's source tree, assembled on demand (nothing generated is committed)
# ---------------------------------------------------------------------------------------------

def assemble_package(assignment: str, target: Path, *, earlier: str = "reference") -> None:
    """Write the ``course_lib`` package an assignment's students receive into `target`.

    Its own exercise modules are stubs; modules of earlier assignments are the reference
    (``earlier="reference"``: their deadline has passed) or stubs; later ones are left out.
    """
    build.write_package(target, stub_modules=build.assignments_info()[assignment]["modules"],
                        reference_modules=build.earlier_modules(assignment) if earlier == "reference" else [],
                        leave_out=build.later_modules(assignment))


def _run(command: list[str], cwd: Path, timeout: float, log: Path) -> tuple[int, str]:
    with open(log, "a", encoding="utf-8") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        try:
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, env=_nbgrader_env())
        except subprocess.TimeoutExpired:
            sink.write("[grader] timed out\n")
            return 124, "timed out"
        sink.write(done.stdout + done.stderr)
    return done.returncode, done.stdout + done.stderr


def _nbgrader_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO)
    return env


def prepare_course(assignment: str, out: Path, *, earlier: str = "reference") -> Path:
    """Make `out` an nbgrader course folder with `assignment` in its gradebook and released.

    Returns the release folder (``out/release/<assignment>``).
    """
    info = _assignment(assignment)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG_TEMPLATE.format(
        root=str(out), db_url=f"sqlite:///{out / 'gradebook.db'}", code_stub=build.NOTEBOOK_STUB),
        encoding="utf-8")
    source = out / "source" / assignment
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    build.write_instructor_notebook(assignment, source / info["notebook"])
    assemble_package(assignment, source / "course_lib", earlier=earlier)
    code, output = _run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
                        out, 600, out / "logs" / "_generate_assignment.log")
    if code != 0:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{output[-3000:]}")
    return out / "release" / assignment


def release(assignment: str, out: Path, *, earlier: str = "reference") -> Path:
    """Generate the student release of `assignment` under `out` (an nbgrader course folder)."""
    _assignment(assignment)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    return prepare_course(assignment, out, earlier=earlier)


# ---------------------------------------------------------------------------------------------
# Submissions are data: read the listed files safely
# ---------------------------------------------------------------------------------------------

class SubmissionProblem(Exception):
    """A listed file that cannot be taken (a link, too big, not text, missing)."""


def _open_no_follow(root: Path, relative: str) -> bytes:
    """Read `root/relative` without following any symbolic link on the way; at most
    MAX_SOURCE_BYTES; regular files only."""
    flags_dir = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    parts = relative.split("/")
    try:
        fd = os.open(root, flags_dir)
    except OSError as err:
        raise SubmissionProblem(f"cannot open the submission folder ({err.strerror})") from None
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, flags_dir, dir_fd=fd)
            except OSError:
                raise SubmissionProblem(f"{relative} was not handed in (or its folder is a link)") from None
            os.close(fd)
            fd = next_fd
        try:
            file_fd = os.open(parts[-1], os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0),
                              dir_fd=fd)
        except OSError:
            raise SubmissionProblem(f"{relative} was not handed in (or is a link)") from None
        try:
            info = os.fstat(file_fd)
            if not stat.S_ISREG(info.st_mode):
                raise SubmissionProblem(f"{relative} is not a regular file")
            if info.st_size > MAX_SOURCE_BYTES:
                raise SubmissionProblem(f"{relative} is larger than {MAX_SOURCE_BYTES} bytes")
            data = os.read(file_fd, MAX_SOURCE_BYTES + 1)
            if len(data) > MAX_SOURCE_BYTES:
                raise SubmissionProblem(f"{relative} is larger than {MAX_SOURCE_BYTES} bytes")
            return data
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)


def read_submission(folder: Path, assignment: str, files: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(sources by module name, problems by module name) of one student's folder."""
    if folder.is_symlink() or not folder.is_dir():
        return {}, {Path(f).stem: "the student's folder is a link or not a folder" for f in files}
    root = folder
    inner = folder / assignment
    if inner.is_dir() and not inner.is_symlink():
        root = inner
    sources, problems = {}, {}
    for relative in files:
        name = Path(relative).stem
        try:
            data = _open_no_follow(root, relative)
        except SubmissionProblem as err:
            problems[name] = str(err)
            continue
        try:
            sources[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            problems[name] = f"{relative} is not UTF-8 text"
    return sources, problems


# ---------------------------------------------------------------------------------------------
# Grading one student
# ---------------------------------------------------------------------------------------------

@dataclass
class TestOutcome:
    grade_id: str
    check: str
    points: float
    score: float
    status: str   # passed | failed | not_implemented | error | timeout | crashed | import_error | not_run
    message: str


@dataclass
class StudentReport:
    student: str
    outcomes: list[TestOutcome] = field(default_factory=list)
    status: str = "graded"
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(o.score for o in self.outcomes)


class Judge:
    """Grades students of one assignment; thread-safe (one worker per student)."""

    def __init__(self, assignment: str, out: Path, *, limits: Limits, mode: str, hide: list[Path]) -> None:
        from course_lib.checks import framework

        self.framework = framework
        self.assignment = assignment
        self.info = _assignment(assignment)
        self.out = out
        self.limits = limits
        self.mode = mode
        self.hide = hide
        self.worker_root = out / "worker" / assignment
        if self.worker_root.exists():
            shutil.rmtree(self.worker_root)
        # Earlier modules are always the reference here: grading holds them fixed.
        build.write_package(self.worker_root / "course_lib", stub_modules=self.info["modules"],
                            reference_modules=build.earlier_modules(assignment),
                            leave_out=build.later_modules(assignment))
        os.environ.setdefault("COURSE_HIDDEN_CHECKS", str(REPO / "grading" / "hidden"))
        for module in self.info["modules"]:  # load every check once, before any thread starts
            framework.load_checks(module)
            framework.load_checks(module, hidden=True)
        self.secrets = build.secret_lines(self.info["modules"])
        self.live: set[int] = set()
        self.lock = threading.Lock()

    def scrub(self, message: str) -> str:
        """A message that quotes course material (hidden checks, solutions) is withheld."""
        for secret in self.secrets:
            if secret in message:
                return ("[message withheld: it quoted course material that students do not receive; "
                        "the test failed]")
        return message[:3000]

    def _student_budget(self) -> float:
        total = 0.0
        for test in self.info["tests"]:
            for hidden in ([False, True] if test["hidden"] else [False]):
                total += sum(c.timeout for c in self.framework.checks_named(test["check"], hidden=hidden))
        return min(total * self.limits.timeout_scale, self.limits.student_budget)

    def grade(self, student: str, folder: Path) -> StudentReport:
        started = time.monotonic()
        report = StudentReport(student)
        files = self.info["student_files"]
        sources, problems = read_submission(folder, self.assignment, files)
        budget_end = started + self.limits.import_timeout + self._student_budget()
        worker: StudentWorker | None = None
        unusable: dict[str, str] = {name: f"course_lib/{name}.py could not be taken: {why}"
                                    for name, why in problems.items()}

        def start_worker() -> StudentWorker | None:
            candidate = StudentWorker(self.worker_root, sources, [m for m in self.info["modules"] if m in sources],
                                      self.out / "logs" / f"{student}.log", self.limits, self.mode, self.hide)
            try:
                candidate.start()
                with self.lock:
                    self.live.add(candidate.process.pid)
            except CheckTimeout:
                candidate.stop()
                for name in sources:
                    unusable.setdefault(name, f"importing course_lib/{name}.py did not finish in "
                                              f"{self.limits.import_timeout:.0f} s (does it loop at import?)")
                return None
            except (WorkerGone, ProtocolError) as err:
                candidate.stop()
                for name in sources:
                    unusable.setdefault(name, f"the process importing course_lib/{name}.py ended before it "
                                              f"was ready (an exit or crash at import?): {err}")
                return None
            for name, err in candidate.import_errors.items():
                unusable[name] = self.framework.import_failure(name, err)
            return candidate

        try:
            for test in self.info["tests"]:
                module = test["check"].split(".", 1)[0]
                outcome = TestOutcome(test["grade_id"], test["check"], test["points"], 0.0, "failed", "")
                report.outcomes.append(outcome)
                if module in unusable:
                    outcome.status, outcome.message = "import_error", unusable[module]
                    continue
                if time.monotonic() >= budget_end:
                    outcome.status = "not_run"
                    outcome.message = "not run: this submission used up its time budget on earlier tests"
                    continue
                if worker is None:
                    worker = start_worker()
                    if worker is None or module in unusable:
                        outcome.status = "import_error"
                        outcome.message = unusable.get(module, "the module could not be imported")
                        continue
                result = None
                for hidden in ([False, True] if test["hidden"] else [False]):
                    connection = worker.connection
                    connection.budget_deadline = budget_end
                    connection.timeout_scale = self.limits.timeout_scale
                    try:
                        result = self.framework.run_check(test["check"], hidden=hidden, connection=connection)
                    except Exception as err:  # noqa: BLE001 - whatever the worker did, this test only
                        result = self.framework.CheckResult(test["check"], False, "the process running your code "
                                                            f"broke the check ({type(err).__name__})", "crashed")
                    if result.kind in ("timeout", "crashed"):
                        self._retire(worker)
                        worker = None
                    if not result.passed:
                        break
                    if worker is None:
                        worker = start_worker()
                        if worker is None:
                            result = self.framework.CheckResult(test["check"], False, unusable.get(
                                module, "the module could not be imported"), "import_error")
                            break
                outcome.status = result.kind
                outcome.message = self.scrub(result.message) if not result.passed else ""
                outcome.score = float(test["points"]) if result.passed else 0.0
        finally:
            if worker is not None:
                self._retire(worker)
        report.seconds = time.monotonic() - started
        return report

    def _retire(self, worker: StudentWorker) -> None:
        pid = worker.process.pid if worker.process else None
        worker.stop()
        with self.lock:
            self.live.discard(pid)
            kill_orphans(self.live)


def _safe_students(submissions: Path, roster: set[str] | None) -> tuple[list[str], list[str]]:
    students, skipped = [], []
    for entry in sorted(os.listdir(submissions)):
        path = submissions / entry
        if not STUDENT_ID.match(entry):
            skipped.append(f"{entry!r}: not a valid student id (letters, digits, _ . -)")
        elif path.is_symlink() or not path.is_dir():
            skipped.append(f"{entry}: not a folder (links are not followed)")
        elif roster is not None and entry not in roster:
            skipped.append(f"{entry}: not in the class roster")
        else:
            students.append(entry)
    return students, skipped


def grade_class(assignment: str, submissions: Path, out: Path, *, jobs: int = 1, limits: Limits | None = None,
                allow_unsandboxed: bool = False, roster: set[str] | None = None,
                progress: bool = True) -> list[dict]:
    """Grade every student folder in `submissions`; return one row per student (also in CSV)."""
    info = _assignment(assignment)
    if not submissions.is_dir():
        raise SystemExit(f"No submissions folder at {submissions}")
    mode = sandbox_mode()
    if mode != "bwrap" and not allow_unsandboxed:
        raise SystemExit(
            "No sandbox is available here (bubblewrap is missing or cannot start; Debian/Ubuntu: "
            "`apt-get install bubblewrap`). Without it, student code runs with your permissions: it cannot "
            "change any verdict, but it can read the solutions and write to your files. Grade in the "
            "container described in grading/README.md, or pass --allow-unsandboxed to accept that risk.")
    limits = limits or Limits()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    submissions = submissions.resolve()
    become_subreaper()
    prepare_course(assignment, out)
    students, skipped = _safe_students(submissions, roster)
    if progress:
        for line in skipped:
            print(f"skipped {line}", flush=True)
    (out / "logs").mkdir(exist_ok=True)
    (out / "logs" / f"_skipped_{assignment}.txt").write_text("".join(s + "\n" for s in skipped), encoding="utf-8")
    judge = Judge(assignment, out, limits=limits, mode=mode, hide=[out, submissions])
    started = time.monotonic()
    reports: dict[str, StudentReport] = {}
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(judge.grade, s, submissions / s): s for s in students}
        for future in concurrent.futures.as_completed(futures):
            student = futures[future]
            try:
                report = future.result()
            except Exception as err:  # noqa: BLE001 - a grader bug must not lose the class
                report = StudentReport(student, status=f"grader error: {type(err).__name__}: {err}")
                report.outcomes = [TestOutcome(t["grade_id"], t["check"], t["points"], 0.0, "error",
                                               "the grader failed on this submission; ask your instructor")
                                   for t in info["tests"]]
            reports[student] = report
            done += 1
            if progress:
                print(f"[{done}/{len(students)}] {student}: {report.score:g}/{info['total_points']:g} "
                      f"({report.seconds:.1f} s)", flush=True)
    kill_orphans(set())
    _write_gradebook(assignment, info, out, reports)
    _write_feedback(assignment, info, out, reports)
    rows = _write_breakdown(assignment, info, out, students, reports)
    _run([sys.executable, "-m", "nbgrader", "export", "--to", str(out / "grades.csv")], out, 600,
         out / "logs" / "_export.log")
    if progress:
        print(f"Graded {len(students)} submission(s) in {time.monotonic() - started:.1f} s "
              f"(sandbox: {mode}); grades in {out / f'grades_{assignment}.csv'}")
    return rows


def _write_gradebook(assignment: str, info: dict, out: Path, reports: dict[str, StudentReport]) -> None:
    """Scores into nbgrader's gradebook, written by the judge after every worker has ended."""
    from nbgrader.api import Gradebook, MissingEntry

    import warnings

    notebook_id = Path(info["notebook"]).stem
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy noise
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "course") as gradebook:
        for student, report in sorted(reports.items()):
            gradebook.update_or_create_student(student)
            try:
                gradebook.find_submission(assignment, student)
            except MissingEntry:
                gradebook.add_submission(assignment, student)
            for outcome in report.outcomes:
                grade = gradebook.find_grade(outcome.grade_id, notebook_id, assignment, student)
                grade.auto_score = outcome.score
                grade.needs_manual_grade = False
            gradebook.db.commit()


FEEDBACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .6em;
vertical-align:top;border-bottom:1px solid #ddd}}.ok{{color:#176f2c}}.no{{color:#b00020}}
pre{{white-space:pre-wrap;margin:0}}</style></head><body>
<h1>{title}</h1><p>Score: <b>{score:g} / {total:g}</b></p>
<table><tr><th>test</th><th>points</th><th>result</th></tr>
{rows}</table></body></html>
"""


def _write_feedback(assignment: str, info: dict, out: Path, reports: dict[str, StudentReport]) -> None:
    for student, report in reports.items():
        rows = []
        for o in report.outcomes:
            mark = '<span class="ok">✓ passed</span>' if o.score else f'<span class="no">✗ {html.escape(o.status)}</span>'
            message = f"<pre>{html.escape(o.message)}</pre>" if o.message else ""
            rows.append(f"<tr><td>{html.escape(o.check)}</td><td>{o.score:g} / {o.points:g}</td>"
                        f"<td>{mark}{message}</td></tr>")
        folder = out / "feedback" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{assignment}.html").write_text(FEEDBACK.format(
            title=html.escape(f"{assignment}: feedback for {student}"), score=report.score,
            total=info["total_points"], rows="\n".join(rows)), encoding="utf-8")


def _write_breakdown(assignment: str, info: dict, out: Path, students: list[str],
                     reports: dict[str, StudentReport]) -> list[dict]:
    rows = []
    for student in students:
        report = reports[student]
        row = {"student_id": student, "score": report.score, "max_score": info["total_points"],
               "status": report.status, "seconds": round(report.seconds, 1)}
        for outcome in report.outcomes:
            row[outcome.grade_id] = outcome.score
        rows.append(row)
    fields = ["student_id", "score", "max_score", "status", "seconds"] + [t["grade_id"] for t in info["tests"]]
    with open(out / f"grades_{assignment}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(out / f"results_{assignment}.json", "w", encoding="utf-8") as handle:
        json.dump({s: [o.__dict__ for o in reports[s].outcomes] for s in students}, handle, indent=1)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="e.g. 01_tokenization")
    parser.add_argument("submissions", type=Path, help="a folder with one sub-folder per student")
    parser.add_argument("--out", type=Path, required=True, help="the nbgrader course folder to write")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once (up to the number of cores)")
    parser.add_argument("--roster", type=Path, help="a file with one student id per line: grade only these")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address space per worker")
    parser.add_argument("--timeout-scale", type=float, default=1.0,
                        help="multiply every check's time limit (e.g. 2 on a slow machine)")
    parser.add_argument("--student-budget", type=float, default=Limits.student_budget,
                        help="most seconds for all the checks of one student")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="grade without bubblewrap: verdicts stay safe, your files do not (see grading/README.md)")
    args = parser.parse_args(argv)
    roster = None
    if args.roster:
        roster = {line.strip() for line in args.roster.read_text(encoding="utf-8").splitlines() if line.strip()}
    limits = Limits(memory_mb=args.memory_mb, timeout_scale=args.timeout_scale, student_budget=args.student_budget)
    rows = grade_class(args.assignment, args.submissions, args.out, jobs=args.jobs, limits=limits,
                       allow_unsandboxed=args.allow_unsandboxed, roster=roster)
    width = max((len(r["student_id"]) for r in rows), default=0)
    for row in rows:
        print(f"  {row['student_id']:<{width}}  {row['score']:g}/{row['max_score']:g}  {row['status']}")
    return 0


def release_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading release",
                                     description="Generate the student release of an assignment with nbgrader.")
    parser.add_argument("assignment", help="e.g. 01_tokenization")
    parser.add_argument("--out", type=Path, required=True, help="the nbgrader course folder to write")
    parser.add_argument("--earlier", choices=["reference", "stubs"], default="reference",
                        help="earlier assignments' modules in the release: the reference (default; their "
                             "deadline has passed) or stubs")
    args = parser.parse_args(argv)
    folder = release(args.assignment, args.out, earlier=args.earlier)
    print(f"Release written to {folder}: hand this folder to students.")
    return 0
