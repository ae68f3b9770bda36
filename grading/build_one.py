"""Generate the student stub of ONE module into course_lib/ (for authors; `make build` does all).

    python -m grading.build_one attention
"""

import sys
from grading.build import REPO, SOLUTIONS, stub_python


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for module in argv:
        source = SOLUTIONS / "course_lib" / f"{module}.py"
        target = REPO / "course_lib" / f"{module}.py"
        target.write_text(stub_python(source.read_text(encoding="utf-8"), str(source)), encoding="utf-8")
        print(f"wrote {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
