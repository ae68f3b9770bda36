"""Use the course's reference version of an earlier module, explicitly and visibly.

Later notebooks build on earlier ones (05's encoder uses 04's attention). If you have not
finished an earlier module, a notebook can switch to the reference for the rest of the kernel
session::

    from course_lib.earlier import use_reference
    use_reference("attention")          # before importing anything that uses it

This works only in a copy of the course that has ``solutions/`` (the repository). In a class,
the release of a later assignment already ships the reference of the earlier modules. Restart
the kernel (or call `use_mine`) to go back to your own code.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["use_reference", "use_mine", "reference_path"]


def reference_path(name: str) -> Path | None:
    """``solutions/course_lib/<name>.py`` beside this package, or None where it is absent."""
    here = Path(__file__).resolve().parent           # .../course_lib
    for root in (here.parent, here.parent.parent):   # the repository, or solutions/ itself
        for candidate in (root / "solutions" / "course_lib" / f"{name}.py", root / "course_lib" / f"{name}.py"):
            if candidate.is_file() and "solutions" in candidate.parts:
                return candidate
    return None


def use_reference(*names: str) -> None:
    """Replace your ``course_lib.<name>`` by the course's reference for this kernel session."""
    from course_lib.checks.remote import install_module

    for name in names:
        path = reference_path(name)
        if path is None:
            raise FileNotFoundError(
                f"The reference of course_lib/{name}.py is not in this copy of the course (no solutions/ "
                "folder). In a class, an assignment's release already contains the reference of earlier "
                "modules; otherwise finish your own version first.")
        module = install_module(name, path.read_text(encoding="utf-8"), str(path))
        module.__course_reference__ = True
        print(f"ℹ Using the course's reference course_lib.{name} ({path}) instead of yours, for this kernel "
              f"session. Restart the kernel, or run use_mine({name!r}), to use your own again.")


def use_mine(*names: str) -> None:
    """Go back to your own ``course_lib/<name>.py`` (re-read from disk)."""
    from course_lib.checks.remote import load_fresh

    for name in names:
        sys.modules.pop(f"course_lib.{name}", None)
        load_fresh(name)
        print(f"ℹ Using your own course_lib/{name}.py again.")
