"""Grading a class headless: a synthetic class per assignment gets the scores it earned.

The class: a complete solution (full marks), the untouched stubs (zero), a partly wrong one
(partial), one whose function loops forever (zero for that part; grading finishes), and one
that kills its own process at import (zero; the rest of the class is still graded). The release
and the feedback carry no solution or hidden-test text.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from grading.build import solution_regions
from grading.grade import grade_class
from support import REPO, find_leaks, mutant_paths

ASSIGNMENTS = json.loads((REPO / "grading" / "nbgrader" / "assignments.json").read_text(encoding="utf-8"))
CHECK_TIMEOUT = 20  # seconds per check in these tests (the default for a class is 120)


def _first_exercise_function(module: str) -> str:
    """The first top-level function with a solution region in the reference module."""
    text = (REPO / "solutions" / "course_lib" / f"{module}.py").read_text(encoding="utf-8")
    for region in solution_regions(text):
        if region.owner and "." not in region.owner:
            return region.owner
    raise AssertionError(f"no top-level exercise function in {module}")


def _make_class(assignment: str, root):
    """Write the synthetic class's submissions under `root`; return {student: expectation}."""
    info = ASSIGNMENTS[assignment]
    release = REPO / "grading" / "nbgrader" / "source" / assignment

    def hand_in(student: str, sources: dict[str, str] | None = None):
        folder = root / student / assignment
        shutil.copytree(release / "course_lib", folder / "course_lib")
        shutil.copyfile(REPO / "notebooks" / info["notebook"], folder / info["notebook"])
        for module, text in (sources or {}).items():
            (folder / "course_lib" / f"{module}.py").write_text(text, encoding="utf-8")

    reference = {m: (REPO / "solutions" / "course_lib" / f"{m}.py").read_text(encoding="utf-8")
                 for m in info["modules"]}
    hand_in("complete", reference)
    hand_in("stubs")
    first = info["modules"][0]
    wrong = dict(reference)
    wrong[first] += "\n\n# --- a learner's bug ---\n" + mutant_paths(first)[0].read_text(encoding="utf-8")
    hand_in("partial", wrong)
    loops = dict(reference)
    name = _first_exercise_function(first)
    loops[first] += f"\n\ndef {name}(*args, **kwargs):\n    while True:\n        pass\n"
    hand_in("loops", loops)
    exits = dict(reference)
    exits[first] = "import os\nos._exit(0)\n" + exits[first]
    hand_in("exits", exits)
    # A file outside the exercise modules must not override the instructor's checks.
    tamper = dict(reference)
    hand_in("tampers", tamper)
    (root / "tampers" / assignment / "course_lib" / "checks" / "framework.py").write_text(
        "def check(*a, **k):\n    print('✓ all good')\n", encoding="utf-8")
    (root / "tampers" / assignment / "course_lib" / f"{first}.py").write_text(
        "raise SystemExit(0)\n", encoding="utf-8")
    return name


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_grade_a_synthetic_class(assignment, tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "run"
    looping_function = _make_class(assignment, submissions)
    rows = {r["student_id"]: r for r in grade_class(assignment, submissions, out,
                                                    check_timeout=CHECK_TIMEOUT, jobs=2, progress=True)}
    total = ASSIGNMENTS[assignment]["total_points"]
    assert set(rows) == {"complete", "stubs", "partial", "loops", "exits", "tampers"}
    assert all(r["status"] == "graded" for r in rows.values()), rows
    assert rows["complete"]["score"] == total, rows["complete"]
    assert rows["stubs"]["score"] == 0, rows["stubs"]
    assert 0 < rows["partial"]["score"] < total, rows["partial"]
    assert 0 <= rows["loops"]["score"] < total, rows["loops"]
    loop_test = [t["grade_id"] for t in ASSIGNMENTS[assignment]["tests"]
                 if t["check"].endswith("." + looping_function)]
    for grade_id in loop_test:
        assert rows["loops"][grade_id] == 0, (grade_id, rows["loops"])
    assert rows["exits"]["score"] == 0, rows["exits"]
    assert rows["tampers"]["score"] == 0, rows["tampers"]

    # What the instructor gets: the gradebook, nbgrader's CSV, our per-test CSV, feedback.
    assert (out / "gradebook.db").is_file()
    with open(out / "grades.csv", encoding="utf-8") as handle:
        exported = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(exported["complete"]["score"]) == total
    assert float(exported["stubs"]["score"]) == 0
    with open(out / f"grades_{assignment}.csv", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    feedback = sorted((out / "feedback").rglob("*.html"))
    assert len(feedback) == 6, feedback
    # Students receive the release and the feedback: neither may carry solutions or hidden tests.
    leaks = find_leaks([out / "release", out / "feedback"])
    assert not leaks, "\n".join(leaks[:20])
    for page in feedback:
        text = page.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in text and "hidden=True" not in text, page


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_release_carries_stubs_not_solutions(assignment, tmp_path):
    """nbgrader copies non-notebook files into a release verbatim: they must be the stubs."""
    from grading.grade import release

    folder = release(assignment, tmp_path / "course")
    info = ASSIGNMENTS[assignment]
    assert (folder / info["notebook"]).is_file()
    for rel in info["student_files"]:
        text = (folder / rel).read_text(encoding="utf-8")
        assert "raise NotImplementedError" in text, f"{rel} in the release is not the stub"
    leaks = find_leaks([folder])
    assert not leaks, "\n".join(leaks[:20])
    # Self-learners (notebooks/) and a class (nbgrader's release) get the same lesson.
    import nbformat

    released = [c.source for c in nbformat.read(folder / info["notebook"], as_version=4).cells]
    self_study = [c.source for c in nbformat.read(REPO / "notebooks" / info["notebook"], as_version=4).cells]
    assert released == self_study


@pytest.mark.slow
def test_a_student_who_meets_a_locked_gradebook_is_graded_again(tmp_path, monkeypatch):
    """With --jobs, two autograde processes may meet on the SQLite gradebook: no grade is lost."""
    import grading.grade as grade

    assignment = "01_tokenization"
    submissions = tmp_path / "submissions"
    for student in ("ann", "ben"):
        folder = submissions / student
        shutil.copytree(REPO / "grading" / "nbgrader" / "source" / assignment / "course_lib", folder / "course_lib")
        shutil.copyfile(REPO / "solutions" / "course_lib" / "tokenization.py", folder / "course_lib" / "tokenization.py")
    real_run, failed = grade._run, []

    def flaky_run(command, *args, **kwargs):
        if "autograde" in command and "ann" in command and not failed:
            failed.append(True)
            return 1, "sqlite3.OperationalError: database is locked"
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(grade, "_run", flaky_run)
    rows = {r["student_id"]: r for r in grade.grade_class(assignment, submissions, tmp_path / "run",
                                                          check_timeout=CHECK_TIMEOUT, jobs=2)}
    assert failed, "the locked gradebook was never simulated"
    total = ASSIGNMENTS[assignment]["total_points"]
    assert rows["ann"]["status"] == "graded" and rows["ann"]["score"] == total, rows["ann"]
    assert rows["ben"]["score"] == total, rows["ben"]
