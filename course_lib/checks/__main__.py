"""Test YOUR course_lib, notebook by notebook: ``make check`` (or ``python -m course_lib.checks``).

    python -m course_lib.checks            every notebook
    python -m course_lib.checks 04         one notebook (by number or module name: attention)

Each check runs on your code as it is on disk now, exactly as the notebook's check cells do, and
prints ✓ or ✗ with what to fix. This never changes a file.
"""

from __future__ import annotations

import importlib.util
import sys

from .framework import load_checks, local_connection, run_check

NOTEBOOKS = [
    ("01", "tokenization"), ("02", "embeddings"), ("03", "positional"), ("04", "attention"),
    ("05", "encoder"), ("06", "decoder"), ("07", "training"), ("08", "finetuning"), ("09", "rlhf"),
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = [a.strip().lower() for a in argv if a.strip()]
    chosen = [(n, m) for n, m in NOTEBOOKS if not wanted or n in wanted or m in wanted
              or n.lstrip("0") in wanted]
    if wanted and not chosen:
        print(f"No notebook matches {' '.join(argv)}; use a number (04) or a module name (attention).")
        return 2
    summary = []
    for number, module in chosen:
        if importlib.util.find_spec(f"course_lib.checks.{module}") is None:
            continue
        names = list(dict.fromkeys(c.name for c in load_checks(module)))
        print(f"\nNotebook {number} · course_lib/{module}.py")
        connection = local_connection(module)
        results = [run_check(name, connection=connection) for name in names]
        for result in results:
            print(f"  {result}")
        passed = sum(r.passed for r in results)
        summary.append((number, module, passed, len(results)))
    print("\nSummary")
    for number, module, passed, total in summary:
        state = "all pass" if passed == total else ("not started" if passed == 0 else "in progress")
        print(f"  {number} {module:<13} {passed}/{total} checks pass  ({state})")
    all_pass = all(p == t for _, _, p, t in summary)
    if summary and all_pass:
        print("Every check passes. (A graded version of an assignment runs more cases: other sizes, "
              "random inputs, edge cases.)")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
