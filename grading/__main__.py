"""``python -m grading build|grade ...`` (see grading/__init__.py)."""

import sys


def main() -> int:
    commands = {"build": ("grading.build", "main"), "grade": ("grading.grade", "main"),
                "release": ("grading.grade", "release_main")}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python -m grading {build,release,grade} ...  (add --help after a command for its options)")
        return 2
    import importlib

    module_name, function = commands[sys.argv[1]]
    return getattr(importlib.import_module(module_name), function)(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
