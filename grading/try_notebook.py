"""Run one instructor notebook source on the reference (or its student view on the stubs), for authors.

    python -m grading.try_notebook solutions/notebooks/04_attention.py [--mode smoke|quick|full] [--student]

Builds the notebook in a temporary folder (no generated file of the repository is touched), runs it
with nbclient (errors allowed), prints each cell's errors and the time per cell, and saves the
executed notebook next to the printed path so that outputs can be inspected.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grading import build

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.try_notebook")
    parser.add_argument("source", type=Path)
    parser.add_argument("--mode", default="smoke", choices=["smoke", "quick", "full"])
    parser.add_argument("--student", action="store_true", help="run the student view on generated stubs")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    source = args.source.resolve()
    cells = build.parse_notebook_source(source.read_text(encoding="utf-8"), str(source))
    nb = build.instructor_notebook(cells, source.stem)
    work = Path(tempfile.mkdtemp(prefix=f"try-{source.stem}-"))
    if args.student:
        nb = build.student_notebook(nb)
        build._student_package(work / "course_lib")
        package_root = work
    else:
        package_root = REPO / "solutions"
    env_before = dict(os.environ)
    os.environ.update({"PYTHONPATH": str(package_root), "COURSE_MODE": args.mode, "MPLBACKEND": "agg",
                       "COURSE_DEVICE": os.environ.get("COURSE_DEVICE", "cpu")})
    times = []
    try:
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(work)}})
        started = time.monotonic()
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                t0 = time.monotonic()
                client.execute_cell(cell, index)
                times.append((time.monotonic() - t0, index))
        total = time.monotonic() - started
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    errors = 0
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors += 1
                print(f"--- cell {index} error: {out['ename']}: {out['evalue'][:600]}")
    out_path = work / f"{source.stem}.executed.ipynb"
    nbformat.write(nb, out_path)
    slow = sorted(times, reverse=True)[:5]
    print("slowest cells:", ", ".join(f"#{i} {t:.1f}s" for t, i in slow))
    print(f"{source.stem} ({'student view' if args.student else 'reference'}, {args.mode}): "
          f"{total:.1f} s, {errors} error output(s); executed notebook: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
