"""The worker process of `grading.sandbox`: runs one named check on the student's code.

    python -m grading.check_worker tokenization.merge_pair [--hidden]

Reads a nonce on stdin *before* importing any student code, runs the check, and writes one JSON
line ``{"nonce", "passed", "message", "kind"}`` to the pipe named by ``COURSE_RESULT_FD``. Anything the student's code
prints goes to stdout/stderr, which the parent only keeps as a log.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    nonce = sys.stdin.readline().strip()
    result_fd = int(os.environ.pop("COURSE_RESULT_FD"))
    result_pipe = os.fdopen(os.dup(result_fd), "w")
    os.close(result_fd)  # keep only a private duplicate, at a number student code is not told
    hidden = "--hidden" in argv
    names = [a for a in argv if not a.startswith("--")]
    if len(names) != 1:
        print("usage: python -m grading.check_worker NAME [--hidden]", file=sys.stderr)
        return 2
    from course_lib.checks.framework import run_check

    result = run_check(names[0], hidden=hidden)
    result_pipe.write(json.dumps({"nonce": nonce, "passed": result.passed,
                                  "message": result.message, "kind": result.kind}) + "\n")
    result_pipe.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
