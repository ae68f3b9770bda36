"""Grading a class: each assignment's synthetic class gets exactly the scores it earned, the
release carries stubs (and the reference of earlier assignments), and nothing a student
receives carries a solution or hidden-test text."""

from __future__ import annotations

import csv

import nbformat
import pytest

from grading.build import assignments_info, earlier_modules
from grading.grade import grade_class
from grading.sandbox import Limits, sandbox_mode
from support import REPO, find_leaks, mutant, mutant_paths

ASSIGNMENTS = assignments_info()
# Quick limits for the tests: a loop is given up on sooner than in a real class.
LIMITS = Limits(import_timeout=60, timeout_scale=1.0, student_budget=240)


def reference_source(module: str) -> str:
    return (REPO / "solutions" / "course_lib" / f"{module}.py").read_text(encoding="utf-8")


def stub_source(module: str) -> str:
    from grading.build import stub_python

    return stub_python(reference_source(module))


def hand_in(root, student: str, assignment: str, sources: dict[str, str]) -> None:
    folder = root / student / assignment / "course_lib"
    folder.mkdir(parents=True)
    for module, text in sources.items():
        (folder / f"{module}.py").write_text(text, encoding="utf-8")


def _tests_failed_by(path) -> set[str]:
    return set(getattr(mutant(path), "CAUGHT_BY", []))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_grade_a_synthetic_class(assignment, tmp_path):
    info = ASSIGNMENTS[assignment]
    modules = info["modules"]
    first = modules[0]
    submissions, out = tmp_path / "submissions", tmp_path / "run"
    reference = {m: reference_source(m) for m in modules}
    hand_in(submissions, "complete", assignment, reference)
    hand_in(submissions, "stubs", assignment, {m: stub_source(m) for m in modules})
    bug = mutant_paths(first)[0]
    wrong = dict(reference)
    wrong[first] += "\n\n# --- a learner's bug ---\n" + bug.read_text(encoding="utf-8")
    hand_in(submissions, "partial", assignment, wrong)
    # (Loops, memory and fork bursts, exits in calls: tests/test_hostile_class.py, on one assignment.)
    hand_in(submissions, "exits", assignment, {**reference, first: "import os\nos._exit(0)\n" + reference[first]})

    rows = {r["student_id"]: r for r in grade_class(assignment, submissions, out, jobs=2, limits=LIMITS,
                                                    allow_unsandboxed=True)}
    total = info["total_points"]
    points = {t["grade_id"]: t["points"] for t in info["tests"]}
    by_check = {t["check"]: t["grade_id"] for t in info["tests"]}
    assert set(rows) == {"complete", "stubs", "partial", "exits"}
    assert rows["complete"]["score"] == total, rows["complete"]
    assert rows["stubs"]["score"] == 0, rows["stubs"]
    caught = {by_check[name] for name in _tests_failed_by(bug) if name in by_check}
    assert rows["partial"]["score"] == total - sum(points[g] for g in caught), (bug.name, rows["partial"])
    assert rows["exits"]["score"] == 0, rows["exits"]

    # What the instructor gets: the gradebook (via nbgrader's export), our CSV, the feedback.
    with open(out / "grades.csv", encoding="utf-8") as handle:
        exported = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(exported) == set(rows)
    assert float(exported["complete"]["score"]) == total
    assert float(exported["partial"]["score"]) == rows["partial"]["score"]
    feedback = sorted((out / "feedback").rglob("*.html"))
    assert len(feedback) == 4, feedback

    # The release: the notebook students get in class is the self-study one; own modules are
    # stubs, earlier assignments' modules the reference, later ones absent; no leak.
    release = out / "release" / assignment
    released = [c.source for c in nbformat.read(release / info["notebook"], as_version=4).cells]
    self_study = [c.source for c in nbformat.read(REPO / "notebooks" / info["notebook"], as_version=4).cells]
    assert released == self_study
    for module in modules:
        assert "raise NotImplementedError" in (release / "course_lib" / f"{module}.py").read_text(encoding="utf-8")
    earlier = earlier_modules(assignment)
    for module in earlier:
        assert (release / "course_lib" / f"{module}.py").read_text(encoding="utf-8") == reference_source(module)
    later = [m for a in ASSIGNMENTS.values() for m in a["modules"] if m not in earlier and m not in modules]
    for module in later:
        assert not (release / "course_lib" / f"{module}.py").exists(), module
    own_secrets = [release / "course_lib" / f"{m}.py" for m in modules] + [release / info["notebook"]]
    leaks = find_leaks(own_secrets + [out / "feedback"])
    assert not leaks, "\n".join(leaks[:20])
    for page in feedback:
        text = page.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in text and "hidden=True" not in text, page


def test_grading_refuses_to_run_unsandboxed_without_consent(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX", "none")
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    with pytest.raises(SystemExit, match="--allow-unsandboxed"):
        grade_class(sorted(ASSIGNMENTS)[0], tmp_path / "subs", tmp_path / "run")


def test_sandbox_mode_is_reported():
    assert sandbox_mode() in ("bwrap", "rlimit")
