"""The worker process of `grading.sandbox`: runs one named check on the student's code.

    python -m grading.check_worker tokenization.merge_pair [--public] [--hidden]

Reads a nonce on stdin *before* importing any student code, runs the public and/or hidden checks
of that name (in the order of the flags; public alone by default), and writes, per verdict, one JSON
line ``{"nonce", "passed", "message", "kind"}`` to the pipe named by ``COURSE_RESULT_FD``. Anything the student's code
prints goes to stdout/stderr, which the parent only keeps as a log.
"""

from __future__ import annotations

import json
import os
import sys


def _verdict(name: str, hidden: bool) -> dict:
    try:
        from course_lib.checks.framework import run_check

        result = run_check(name, hidden=hidden)
        return {"passed": result.passed, "message": result.message, "kind": result.kind}
    except BaseException as err:  # noqa: BLE001 - SystemExit from student code is a verdict too
        return {"passed": False, "kind": "error",
                "message": f"the check stopped with {type(err).__name__}: {err}"}


def main(argv: list[str]) -> int:
    nonce = sys.stdin.readline().strip()
    result_fd = int(os.environ.pop("COURSE_RESULT_FD"))
    result_pipe = os.fdopen(os.dup(result_fd), "w")
    os.close(result_fd)  # keep only a private duplicate, at a number student code is not told
    names = [a for a in argv if not a.startswith("--")]
    if len(names) != 1:
        print("usage: python -m grading.check_worker NAME [--hidden] [--public]", file=sys.stderr)
        return 2
    # One worker can answer both halves of a test cell (public, then hidden): each verdict is
    # written as soon as it is known, so a hidden check that loops cannot take the public one with it.
    for hidden in [flag == "--hidden" for flag in argv if flag in ("--public", "--hidden")] or [False]:
        result_pipe.write(json.dumps({"nonce": nonce, "hidden": hidden, **_verdict(names[0], hidden)}) + "\n")
        result_pipe.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
