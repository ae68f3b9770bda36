"""The instructor's tooling: building the student views, releasing and grading, hidden checks, mutants.

    python -m grading build [--check]                      regenerate what students receive (course developers)
    python -m grading release ASSIGNMENT --out D           nbgrader's student release of one assignment
    python -m grading grade ASSIGNMENT SUBMISSIONS --out D  grade a class (the verdict runs here, student code in workers)

The grader's own process (the judge) imports the course's checks from ``solutions/course_lib``,
the single source of truth, never from a ``course_lib`` that a learner may have edited.
"""

import sys
from pathlib import Path

_SOLUTIONS = str(Path(__file__).resolve().parent.parent / "solutions")
if _SOLUTIONS not in sys.path:
    sys.path.insert(0, _SOLUTIONS)
