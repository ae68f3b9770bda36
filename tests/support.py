"""Helpers for the course's own tests: load the reference, the stubs and the mutants side by side.

The public checks take the module under test as an argument, so the tests load each version of
an exercise module under its own name and hand it to the same checks.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions" / "course_lib"
STUDENT = REPO / "course_lib"
MUTANTS = REPO / "grading" / "mutants"
HIDDEN = REPO / "grading" / "hidden"


def exercise_modules() -> list[str]:
    """Modules that have public checks: course_lib/checks/<module>.py."""
    return sorted(p.stem for p in (SOLUTIONS / "checks").glob("*.py")
                  if not p.stem.startswith("_") and p.stem not in ("framework", "remote", "worker"))


def load_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def reference(module: str) -> ModuleType:
    return load_file(SOLUTIONS / f"{module}.py", f"_reference_{module}")


def stub(module: str) -> ModuleType:
    """The stubs as the build generates them from solutions/ (not course_lib/ on disk, which a
    learner may have filled in)."""
    from grading.build import stub_python

    text = stub_python((SOLUTIONS / f"{module}.py").read_text(encoding="utf-8"))
    name = f"_stub_{module}"
    module_object = ModuleType(name)
    module_object.__file__ = str(STUDENT / f"{module}.py")
    sys.modules[name] = module_object
    exec(compile(text, module_object.__file__, "exec"), module_object.__dict__)  # noqa: S102
    return module_object


def mutant_paths(module: str | None = None) -> list[Path]:
    folders = [MUTANTS / module] if module else sorted(p for p in MUTANTS.iterdir() if p.is_dir())
    return sorted(p for folder in folders if folder.is_dir() for p in folder.glob("*.py"))


def mutant(path: Path) -> ModuleType:
    """The reference module with the mutant's definitions executed over it.

    A mutant file replaces one or more functions (or classes) with a plausible learner's bug and
    says which public checks must catch it in ``CAUGHT_BY``. Because the reference's other
    functions look names up in the same namespace, they call the wrong version, as a learner's
    module would.
    """
    module_name = path.parent.name
    name = f"_mutant_{module_name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    exec(code, module.__dict__)  # noqa: S102 - our own test fixtures
    module.__file__ = str(path)
    return module


# ---------------------------------------------------------------------------------------------
# Leaks: no solution or hidden-test text in anything a student receives
# ---------------------------------------------------------------------------------------------

MIN_SECRET_LENGTH = 16  # shorter lines ("return ids", "else:") are too generic to be evidence
TRACEBACK_PREFIX = re.compile(r"^\s*(?:-*>)?\s*\d+\s")


def _public_lines() -> set[str]:
    """Every stripped line the authors wrote *outside* solution regions and hidden tests."""
    from grading.build import remove_hidden_tests, solution_regions

    public: set[str] = set()
    for path in (REPO / "solutions").rglob("*.py"):
        if "notebooks" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        inside = set()
        for region in solution_regions(text, str(path)):
            inside.update(range(region.start, region.end))
        public.update(line.strip() for i, line in enumerate(lines) if i not in inside)
    for path in (REPO / "solutions" / "notebooks").glob("*.py"):
        text = remove_hidden_tests(path.read_text(encoding="utf-8"))
        out, skipping = [], False
        for line in text.splitlines():
            if "### BEGIN SOLUTION" in line:
                skipping = True
            elif "### END SOLUTION" in line:
                skipping = False
            elif not skipping:
                out.append(line.strip())
                if line.startswith("# "):  # a markdown line: the text students read, code in hints too
                    out.append(line[2:].strip())
        public.update(out)
    return public


def secret_lines() -> set[str]:
    """Distinctive lines of the reference solutions, notebook solutions and hidden checks."""
    from grading.build import solution_regions

    secrets: set[str] = set()
    for path in (REPO / "solutions").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "notebooks" in path.parts:
            inside_solution = inside_hidden = False
            for line in text.splitlines():
                if "### BEGIN SOLUTION" in line:
                    inside_solution = True
                elif "### END SOLUTION" in line:
                    inside_solution = False
                elif "### BEGIN HIDDEN TESTS" in line:
                    inside_hidden = True
                elif "### END HIDDEN TESTS" in line:
                    inside_hidden = False
                elif inside_solution or inside_hidden:
                    secrets.add(line.strip())
            continue
        for region in solution_regions(text, str(path)):
            secrets.update(line.strip() for line in region.body)
    for path in HIDDEN.glob("*.py"):
        secrets.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    # Hidden test cells are generated by the build: their calls are secrets too.
    from grading.build import assignments_info

    for info in assignments_info().values():
        secrets.update(f'check("{t["check"]}", hidden=True)' for t in info["tests"] if t["hidden"])
    secrets = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH and not s.startswith("#")}
    return secrets - _public_lines()


def find_leaks(roots: list[Path], secrets: set[str] | None = None) -> list[str]:
    """'file: line' for every secret line found in text files under `roots`."""
    secrets = secret_lines() if secrets is None else secrets
    leaks = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if path.suffix == ".ipynb":
                nb = json.loads(text)
                text = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []))
            elif path.suffix in (".html", ".htm"):
                text = html.unescape(re.sub(r"<[^>]+>", "", text))
            # Whole lines, also behind the "----> 12 " prefix a traceback quotes them with.
            lines = {TRACEBACK_PREFIX.sub("", line).strip() for line in text.splitlines()}
            leaks += [f"{path}: {s}" for s in sorted(secrets & lines)]
    return leaks
