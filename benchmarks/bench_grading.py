"""How long grading a class takes: N copies of the reference, per assignment.

    python benchmarks/bench_grading.py [--students 30] [--jobs 2] [ASSIGNMENT ...]

Prints, per assignment, the wall time of the whole run (release included), the time spent
grading students, and seconds per student. Goal (issue 7): 30 submissions of each assignment in
at most 5 minutes with --jobs 2 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grading.build import assignments_info  # noqa: E402
from grading.grade import grade_class  # noqa: E402
from grading.sandbox import sandbox_mode  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    info = assignments_info()
    names = args.assignments or sorted(info)
    print(f"sandbox: {sandbox_mode()}, {args.students} students, --jobs {args.jobs}")
    print(f"{'assignment':<26} {'total s':>8} {'grading s':>10} {'s/student':>10} {'all full marks':>15}")
    for name in names:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            submissions = Path(tmp) / "submissions"
            for index in range(args.students):
                folder = submissions / f"student{index:03d}" / "course_lib"
                folder.mkdir(parents=True)
                for module in info[name]["modules"]:
                    source = REPO / "solutions" / "course_lib" / f"{module}.py"
                    (folder / f"{module}.py").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
            started = time.monotonic()
            rows = grade_class(name, submissions, Path(tmp) / "run", jobs=args.jobs, allow_unsandboxed=True,
                               progress=False)
            total = time.monotonic() - started
            grading = sum(float(r["seconds"]) for r in rows) / max(1, args.jobs)
            full = all(float(r["score"]) == info[name]["total_points"] for r in rows)
            print(f"{name:<26} {total:>8.1f} {grading:>10.1f} {total / args.students:>10.2f} {str(full):>15}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
