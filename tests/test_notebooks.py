"""Each notebook runs top to bottom on the reference (smoke mode, CPU) with every check ✓, and
its student view runs top to bottom on the untouched stubs with no error at all: every check
prints ✗ with a hint, and cells that need an unwritten function say which one ("Run All" is
useful at every stage)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from nbclient import NotebookClient

from grading import build

REPO = Path(__file__).resolve().parent.parent
SOURCES = build.notebook_sources()
TIME_LIMIT = 150  # seconds per notebook in smoke mode on 2 loaded cores


def _execute(nb, package_root: Path, workdir: Path, allow_errors: bool):
    env_before = dict(os.environ)
    os.environ.update({"PYTHONPATH": str(package_root), "COURSE_MODE": "smoke", "MPLBACKEND": "agg",
                       "COURSE_DEVICE": os.environ.get("COURSE_DEVICE", "cpu"),
                       "COURSE_DATA_DIR": str(workdir / "cache")})
    try:
        client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(workdir)}})
        started = time.monotonic()
        client.execute()
        return time.monotonic() - started
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def _stream(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _errors(nb) -> list[str]:
    return [f"{o['ename']}: {o['evalue'][:300]}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs_on_the_reference(source, tmp_path):
    cells = build.parse_notebook_source(source.read_text(encoding="utf-8"), str(source))
    nb = build.instructor_notebook(cells, source.stem)
    seconds = _execute(nb, REPO / "solutions", tmp_path, allow_errors=True)
    print(f"{source.stem}: {seconds:.1f} s (smoke)")
    assert not _errors(nb), f"{source.stem} failed on the reference:\n" + "\n".join(_errors(nb))
    assert seconds < TIME_LIMIT, f"{source.stem} took {seconds:.0f} s in smoke mode"
    test_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert test_cells, "no graded test cells"
    for cell in test_cells:
        text = _stream(cell)
        assert text.count("✓") >= 1 and "✗" not in text, f"{cell.metadata['nbgrader']['grade_id']}: {text}"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_student_view_runs_all_on_the_stubs(source, tmp_path):
    """Run All on untouched stubs: no error output; each check cell prints one ✗ with a hint."""
    nb = build.student_notebook(build.instructor_notebook(
        build.parse_notebook_source(source.read_text(encoding="utf-8"), str(source)), source.stem))
    package = tmp_path / "learner"
    shutil.copytree(REPO / "course_lib", package / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _execute(nb, package, tmp_path, allow_errors=True)
    errors = _errors(nb)
    assert not errors, f"{source.stem} on the stubs shows errors instead of ✗/⏸ lines:\n" + "\n".join(errors)
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith('check("')]
    assert checks, "no check cells"
    for cell in checks:
        text = _stream(cell)
        assert text.count("✗") == 1 and "✓" not in text, f"{cell.source}: {text!r}"
        assert "notebook" in text, f"{cell.source}: the ✗ gives no hint: {text!r}"
