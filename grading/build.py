"""Build every student-facing file from the single source in ``solutions/``.

    python -m grading build            # regenerate course_lib/ and notebooks/ (course developers only)
    python -m grading build --check    # exit 1 (and list the files) if anything is out of date

What it reads:

* ``solutions/course_lib/**`` - the reference package. In ``.py`` files, a solution region is

      ### BEGIN SOLUTION [01 §3] One helpful sentence: the hint shown to the learner.
      ...reference code...
      ### END SOLUTION

  Inside a function the region becomes a stub that raises ``NotImplementedError`` naming the
  function, the notebook section and the hint. Outside a function it becomes a comment.
* ``solutions/notebooks/NN_name.py`` - an instructor notebook in "percent" format (below).

What it writes (committed, because a learner who clones the repo needs them; CI rebuilds and
fails on any difference):

* ``course_lib/``                              the student package (stubs)
* ``notebooks/NN_name.ipynb``                  the student notebooks: solutions and hidden tests
                                               removed, no outputs

What it does NOT write: nbgrader's source tree and the per-assignment package are assembled on
demand by ``python -m grading release|grade`` (`write_package`, `write_instructor_notebook`,
`assignments_info`), so no generated copy of the package is committed.

The percent format: cells start with a header line.

    # %% [markdown]          a markdown cell; each line starts with "# " (or is "#")
    # %%                     a code cell
    # %% [setup]             a code cell nbgrader locks and the autograder keeps (imports only)
    # %% [test tokenization.merge_pair points=2 hidden]
                             an autograded test cell worth 2 points running the public check of that
                             name, plus (with "hidden") the hidden checks of the same name. The body is
                             generated when the cell is left empty.
    # %% [exercise measure_tokens]
                             a code cell the learner completes in the notebook (ungraded): a
                             ### BEGIN SOLUTION / ### END SOLUTION region becomes "# YOUR CODE HERE".
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import filecmp
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
NBGRADER_DIR = REPO / "grading" / "nbgrader"

BEGIN_SOLUTION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:\s*\[(?P<where>[^\]]*)\])?\s*(?P<hint>.*)$")
END_SOLUTION = re.compile(r"^[ \t]*### END SOLUTION\s*$")
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CELL_HEADER = re.compile(r"^# %%(?:\s*\[(?P<spec>[^\]]*)\])?\s*$")
CELL_HEADER_LIKE = re.compile(r"^# %%")

IGNORED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class BuildError(Exception):
    """A malformed source file; the message names the file and line."""


# ---------------------------------------------------------------------------------------------
# Python sources: solution regions -> stubs
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SolutionRegion:
    """One ### BEGIN/END SOLUTION region of a source file (0-based, end exclusive lines)."""

    start: int
    end: int
    where: str
    hint: str
    owner: str | None  # "Class.method" or "function", None at module or class level
    body: list[str]


def _owner(tree: ast.Module, line_number: int) -> str | None:
    """The qualified name ("Class.method" or "function") of the innermost function containing
    1-based `line_number`, or None when the line is at module or class level."""
    best: tuple[int, str] | None = None

    def visit(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= line_number <= (child.end_lineno or child.lineno):
                    if isinstance(child, ast.ClassDef):
                        visit(child, name + ".")
                        return
                    if best is None or child.lineno > best[0]:
                        best = (child.lineno, name)
                    visit(child, name + ".")
                    return

    visit(tree, "")
    return best[1] if best else None


def solution_regions(text: str, filename: str = "<source>") -> list[SolutionRegion]:
    """Find every solution region of a Python source, checking that BEGIN/END pair up."""
    lines = text.splitlines()
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as err:
        raise BuildError(f"{filename}:{err.lineno}: not valid Python ({err.msg})") from err
    regions: list[SolutionRegion] = []
    open_at: int | None = None
    match = None
    for number, line in enumerate(lines):
        begin = BEGIN_SOLUTION.match(line)
        if begin:
            if open_at is not None:
                raise BuildError(f"{filename}:{number + 1}: BEGIN SOLUTION inside another region")
            open_at, match = number, begin
        elif END_SOLUTION.match(line):
            if open_at is None:
                raise BuildError(f"{filename}:{number + 1}: END SOLUTION without a BEGIN")
            regions.append(SolutionRegion(
                start=open_at, end=number + 1, where=(match.group("where") or "").strip(),
                hint=match.group("hint").strip(), owner=_owner(tree, open_at + 1),
                body=lines[open_at + 1:number],
            ))
            open_at = None
    if open_at is not None:
        raise BuildError(f"{filename}:{open_at + 1}: BEGIN SOLUTION is never closed")
    return regions


def _where_text(where: str) -> str:
    """'01 §3' -> 'notebook 01, §3'."""
    return f"notebook {where}".replace(" §", ", §") if where else "its notebook"


def stub_python(text: str, filename: str = "<source>") -> str:
    """Replace each solution region by a stub; everything else is kept byte for byte."""
    lines = text.splitlines(keepends=True)
    regions = solution_regions(text, filename)
    out: list[str] = []
    previous_end = 0
    for region in regions:
        out.extend(lines[previous_end:region.start])
        indent = BEGIN_SOLUTION.match(lines[region.start].rstrip("\n")).group("indent")
        where = _where_text(region.where)
        if region.owner:
            message = f"{region.owner}() is not written yet ({where})."
            if region.hint:
                message += f" Hint: {region.hint}"
            out.append(f"{indent}# YOUR CODE HERE ({where})\n")
            out.append(f"{indent}raise NotImplementedError({message!r})\n")
        else:
            out.append(f"{indent}# YOUR CODE HERE ({where})" + (f": {region.hint}" if region.hint else "") + "\n")
        previous_end = region.end
    out.extend(lines[previous_end:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Notebooks: percent-format source -> instructor (nbgrader) and student notebooks
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SourceCell:
    kind: str  # markdown | code | setup | test | exercise
    source: str
    name: str = ""  # check name for tests, id for exercises
    points: float = 0.0
    hidden: bool = False
    line: int = 0


def _parse_spec(spec: str, filename: str, line: int) -> dict:
    words = spec.split()
    if not words:
        return {"kind": "code"}
    kind, rest = words[0], words[1:]
    if kind in ("markdown", "md"):
        return {"kind": "markdown"}
    if kind == "setup":
        return {"kind": "setup"}
    if kind == "exercise":
        if len(rest) != 1:
            raise BuildError(f"{filename}:{line}: use '# %% [exercise some_id]'")
        return {"kind": "exercise", "name": rest[0]}
    if kind == "test":
        if not rest:
            raise BuildError(f"{filename}:{line}: a test cell needs a check name")
        result = {"kind": "test", "name": rest[0], "points": None, "hidden": False}
        for word in rest[1:]:
            if word == "hidden":
                result["hidden"] = True
            elif word.startswith("points="):
                try:
                    result["points"] = float(word.split("=", 1)[1])
                except ValueError:
                    raise BuildError(f"{filename}:{line}: points must be a number, not {word!r}") from None
            else:
                raise BuildError(f"{filename}:{line}: unknown test option {word!r}")
        if result["points"] is None or result["points"] <= 0:
            raise BuildError(f"{filename}:{line}: a test cell needs points=N (N > 0)")
        return result
    raise BuildError(f"{filename}:{line}: unknown cell kind {kind!r}")


def parse_notebook_source(text: str, filename: str = "<notebook>") -> list[SourceCell]:
    """Split a percent-format file into cells (text before the first header is a comment)."""
    cells: list[SourceCell] = []
    current: dict | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        lines = body[:]
        if current["kind"] == "markdown":
            converted = []
            for raw in lines:
                if raw.startswith("# "):
                    converted.append(raw[2:])
                elif raw.rstrip() == "#":
                    converted.append("")
                elif not raw.strip():
                    converted.append("")
                else:
                    raise BuildError(f"{filename}:{current['line']}: markdown lines must start with '# '")
            lines = converted
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        cells.append(SourceCell(
            kind=current["kind"], source="\n".join(lines), name=current.get("name", ""),
            points=current.get("points") or 0.0, hidden=current.get("hidden", False),
            line=current["line"],
        ))

    hidden_open = None
    for number, raw in enumerate(text.splitlines(), start=1):
        for marker in (BEGIN_HIDDEN, END_HIDDEN, "### BEGIN SOLUTION", "### END SOLUTION"):
            if marker in raw and not raw.strip().startswith(marker):
                raise BuildError(f"{filename}:{number}: {marker!r} must start its own line")
        if raw.strip() == BEGIN_HIDDEN:
            if hidden_open is not None:
                raise BuildError(f"{filename}:{number}: BEGIN HIDDEN TESTS inside another (opened at line {hidden_open})")
            hidden_open = number
        elif raw.strip() == END_HIDDEN:
            if hidden_open is None:
                raise BuildError(f"{filename}:{number}: END HIDDEN TESTS without a BEGIN")
            hidden_open = None
        header = CELL_HEADER.match(raw)
        if CELL_HEADER_LIKE.match(raw) and not header:
            raise BuildError(f"{filename}:{number}: malformed cell header {raw.strip()!r}")
        if header and hidden_open is not None:
            raise BuildError(f"{filename}:{hidden_open}: BEGIN HIDDEN TESTS is never closed")
        if header:
            close()
            current = _parse_spec(header.group("spec") or "", filename, number)
            current["line"] = number
            body = []
        elif current is not None:
            body.append(raw)
    close()
    if hidden_open is not None:
        raise BuildError(f"{filename}:{hidden_open}: BEGIN HIDDEN TESTS is never closed")
    for cell in cells:
        if cell.kind in ("code", "setup", "test", "exercise"):
            _check_notebook_regions(cell, filename)
    names = [c.name for c in cells if c.kind == "test"]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise BuildError(f"{filename}: test cells repeat {sorted(duplicates)}")
    return cells


def _check_notebook_regions(cell: SourceCell, filename: str) -> None:
    """Solution markers in a notebook cell must pair up (an unclosed one would delete the rest)."""
    open_at = None
    for offset, line in enumerate(cell.source.split("\n")):
        if BEGIN_SOLUTION.match(line):
            if open_at is not None:
                raise BuildError(f"{filename}:{cell.line + 1 + offset}: BEGIN SOLUTION inside another region")
            open_at = offset
        elif END_SOLUTION.match(line):
            if open_at is None:
                raise BuildError(f"{filename}:{cell.line + 1 + offset}: END SOLUTION without a BEGIN")
            open_at = None
    if open_at is not None:
        raise BuildError(f"{filename}:{cell.line + 1 + open_at}: BEGIN SOLUTION is never closed")


def test_cell_source(cell: SourceCell) -> str:
    """The body of a test cell: the author's, or the standard public (+ hidden) check calls."""
    if cell.source.strip():
        return cell.source
    lines = [f'check("{cell.name}")']
    if cell.hidden:
        lines += [BEGIN_HIDDEN, f'check("{cell.name}", hidden=True)', END_HIDDEN]
    return "\n".join(lines)


def grade_id(cell: SourceCell) -> str:
    return "test_" + re.sub(r"\W", "_", cell.name)


def _nbgrader_meta(**fields) -> dict:
    meta = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
    meta.update(fields)
    return meta


def _new_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


def _cell_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:03d}"


def instructor_notebook(cells: list[SourceCell], stem: str) -> nbformat.NotebookNode:
    """The nbgrader source notebook: solutions and hidden tests present, nbgrader metadata set."""
    nb = _new_notebook()
    for index, cell in enumerate(cells):
        cid = _cell_id(stem[:2], index)
        if cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, id=cid)
        else:
            new = nbformat.v4.new_code_cell(cell.source, id=cid)
            if cell.kind == "setup":
                new.metadata["nbgrader"] = _nbgrader_meta(grade_id=f"setup_{index}", locked=True)
            elif cell.kind == "test":
                new.source = test_cell_source(cell)
                new.metadata["nbgrader"] = _nbgrader_meta(
                    grade=True, grade_id=grade_id(cell), locked=True, points=cell.points)
            elif cell.kind == "exercise":
                new.metadata["nbgrader"] = _nbgrader_meta(grade_id=f"exercise_{cell.name}", solution=True)
        nb.cells.append(new)
    return nb


# What a solution region of a notebook cell becomes, here and in nbgrader's release (the grader's
# nbgrader config sets ClearSolutions.code_stub to the same text).
NOTEBOOK_STUB = ('# YOUR CODE HERE\n'
                 'raise NotImplementedError("Your turn: complete this cell (see the text above), then run it again.")')


def clear_solutions_text(source: str) -> str:
    """nbgrader's rule: a BEGIN/END SOLUTION region becomes `NOTEBOOK_STUB`, indented like the region."""
    out: list[str] = []
    inside = False
    for line in source.split("\n"):
        begin = BEGIN_SOLUTION.match(line)
        if begin:
            inside = True
            indent = begin.group("indent")
            out += [indent + stub_line for stub_line in NOTEBOOK_STUB.split("\n")]
        elif END_SOLUTION.match(line):
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def remove_hidden_tests(source: str) -> str:
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def student_notebook(instructor: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The self-study notebook in notebooks/: no solutions, no hidden tests, no outputs, no grading metadata."""
    nb = copy.deepcopy(instructor)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.source = remove_hidden_tests(clear_solutions_text(cell.source))
            cell.outputs = []
            cell.execution_count = None
    return nb


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------

def _iter_files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (set(path.relative_to(root).parts) & IGNORED_NAMES) and path.suffix != ".pyc":
            yield path


def _student_package(out: Path) -> None:
    """Write the student package (stubs) under `out` (a fresh directory)."""
    for path in _iter_files(SOLUTIONS / "course_lib"):
        target = out / path.relative_to(SOLUTIONS / "course_lib")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            target.write_text(stub_python(text, str(path.relative_to(REPO))), encoding="utf-8")
        else:
            shutil.copyfile(path, target)


def notebook_sources() -> list[Path]:
    return sorted((SOLUTIONS / "notebooks").glob("[0-9][0-9]_*.py"))


def _write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def _notebook_cells(source: Path) -> list[SourceCell]:
    return parse_notebook_source(source.read_text(encoding="utf-8"), str(source.relative_to(REPO)))


def assignments_info() -> dict[str, dict]:
    """Per assignment ("05_encoder"): its notebook, the modules students edit, the test cells and
    their points. Computed from solutions/ (nothing generated to drift)."""
    assignments: dict[str, dict] = {}
    for source in notebook_sources():
        tests = [c for c in _notebook_cells(source) if c.kind == "test"]
        modules = list(dict.fromkeys(c.name.split(".", 1)[0] for c in tests))
        assignments[source.stem] = {
            "notebook": f"{source.stem}.ipynb",
            "modules": modules,
            "student_files": [f"course_lib/{m}.py" for m in modules],
            "tests": [{"grade_id": grade_id(c), "check": c.name, "points": c.points, "hidden": c.hidden}
                      for c in tests],
            "total_points": sum(c.points for c in tests),
        }
    return assignments


def earlier_modules(assignment: str) -> list[str]:
    """Exercise modules of the assignments before `assignment` (by notebook number)."""
    info = assignments_info()
    return [m for name in sorted(info) if name < assignment for m in info[name]["modules"]]


def later_modules(assignment: str) -> list[str]:
    info = assignments_info()
    return [m for name in sorted(info) if name > assignment for m in info[name]["modules"]]


def write_package(target: Path, *, stub_modules: list[str] | None = None, reference_modules: list[str] = (),
                  leave_out: list[str] = ()) -> None:
    """Write a ``course_lib`` package into `target` (a fresh folder): exercise modules in
    `reference_modules` as the reference, those in `leave_out` (and their checks) omitted, every
    other file with its solution regions turned into stubs."""
    leave = set(leave_out)
    for path in _iter_files(SOLUTIONS / "course_lib"):
        relative = path.relative_to(SOLUTIONS / "course_lib")
        parts = relative.parts
        module = relative.stem
        if relative.suffix == ".py" and ((len(parts) == 1 and module in leave)
                                          or (len(parts) == 2 and parts[0] == "checks" and module in leave)):
            continue
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py" and not (len(parts) == 1 and module in reference_modules):
            text = path.read_text(encoding="utf-8")
            out.write_text(stub_python(text, str(path.relative_to(REPO))), encoding="utf-8")
        else:
            shutil.copyfile(path, out)


def write_instructor_notebook(assignment: str, path: Path) -> None:
    """nbgrader's source notebook of `assignment` (solutions and hidden tests present)."""
    source = SOLUTIONS / "notebooks" / f"{assignment}.py"
    _write_notebook(instructor_notebook(_notebook_cells(source), assignment), path)


def secret_lines(modules: list[str] | None = None, min_length: int = 24) -> set[str]:
    """Distinctive lines that students never receive: the hidden checks of `modules` (all if
    None) and the bodies of the solution regions of the reference package, minus every line
    that also appears in what students do receive."""
    hidden_dir = REPO / "grading" / "hidden"
    secrets: set[str] = set()
    for path in sorted(hidden_dir.glob("*.py")):
        if modules is None or path.stem in modules:
            secrets.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    public: set[str] = set()
    for path in _iter_files(SOLUTIONS / "course_lib"):
        if path.suffix != ".py":
            continue
        text = path.read_text(encoding="utf-8")
        regions = solution_regions(text, str(path))
        inside = {i for r in regions for i in range(r.start, r.end)}
        for number, line in enumerate(text.splitlines()):
            (secrets if number in inside else public).add(line.strip())
    return {s for s in secrets - public if len(s) >= min_length and not s.startswith("#")}


def build_into(staging: Path) -> dict:
    """Write the whole generated tree under `staging` (mirroring the repo); return assignments."""
    _student_package(staging / "course_lib")
    for source in notebook_sources():
        instructor = instructor_notebook(_notebook_cells(source), source.stem)
        _write_notebook(student_notebook(instructor), staging / "notebooks" / f"{source.stem}.ipynb")
    return assignments_info()


# The generated roots, relative to the repo: everything under them belongs to the build.
GENERATED = ["course_lib", "notebooks"]


def _generated_files(root: Path) -> set[str]:
    files: set[str] = set()
    for entry in GENERATED:
        path = root / entry
        if path.is_file():
            files.add(entry)
        elif path.is_dir():
            files.update(str(p.relative_to(root)) for p in _iter_files(path))
    return files


def differences(staging: Path) -> list[str]:
    """Files that differ between a fresh build in `staging` and the repo, as 'path (why)'."""
    new, old = _generated_files(staging), _generated_files(REPO)
    out = [f"{p} (missing: run `make build`)" for p in sorted(new - old)]
    out += [f"{p} (not produced by the build: edit solutions/ instead)" for p in sorted(old - new)]
    out += [f"{p} (differs from what solutions/ generates)" for p in sorted(new & old)
            if not filecmp.cmp(staging / p, REPO / p, shallow=False)]
    return out


class LearnerWorkError(Exception):
    """`course_lib/` holds a learner's code: the build will not overwrite it."""


def learner_work(staging: Path | None = None) -> list[str]:
    """Files of ``course_lib/`` where someone has replaced a generated stub by their own code
    (a stub's ``raise NotImplementedError(...)`` line is gone): a learner's work."""
    found = []
    for path in _iter_files(SOLUTIONS / "course_lib"):
        if path.suffix != ".py":
            continue
        relative = path.relative_to(SOLUTIONS)
        on_disk = REPO / relative
        text = path.read_text(encoding="utf-8")
        owners = [r.owner for r in solution_regions(text, str(path)) if r.owner]
        if not owners or not on_disk.is_file():
            continue
        # Hint-agnostic: a course developer who edits a hint leaves stale stubs, not learner work.
        mine = on_disk.read_text(encoding="utf-8", errors="replace")
        if any(f"{owner}() is not written yet" not in mine for owner in owners):
            found.append(str(relative))
    return found


def backup_course_lib() -> Path:
    """Copy ``course_lib/`` to ``.course_backup/<time>/course_lib`` and return that folder."""
    import time as _time

    target = REPO / ".course_backup" / _time.strftime("%Y%m%d-%H%M%S") / "course_lib"
    shutil.copytree(REPO / "course_lib", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def build(check_only: bool = False, force: bool = False) -> list[str]:
    """Regenerate (or, with check_only, compare) the generated tree. Returns the differences.

    Refuses (LearnerWorkError) to overwrite a ``course_lib/`` that holds a learner's code,
    unless `force`, and then only after backing it up.
    """
    with tempfile.TemporaryDirectory(prefix="course-build-") as tmp:
        staging = Path(tmp)
        build_into(staging)
        diffs = differences(staging)
        if check_only or not diffs:
            return diffs
        work = learner_work()
        if work and not force:
            raise LearnerWorkError(
                "course_lib/ holds your own code (" + ", ".join(work) + "), which `make build` would replace "
                "with empty stubs. Nothing was changed. `make build` is for course developers; to test "
                "your code, run `make check`. To rebuild anyway, run `make build FORCE=1`: your "
                "course_lib/ is copied to .course_backup/ first.")
        if work:
            print(f"Your course_lib/ was backed up to {backup_course_lib()}")
        new, old = _generated_files(staging), _generated_files(REPO)
        for rel in sorted(old - new):
            (REPO / rel).unlink()
        for rel in sorted(new):
            target = REPO / rel
            if target.exists() and filecmp.cmp(staging / rel, target, shallow=False):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
            shutil.copyfile(staging / rel, temporary)
            os.replace(temporary, target)  # atomic: a reader never sees half a file
        for entry in GENERATED:  # drop directories the removals left empty
            root = REPO / entry
            if root.is_dir():
                for directory in sorted(root.rglob("*"), reverse=True):
                    if directory.is_dir() and not any(directory.iterdir()):
                        directory.rmdir()
        return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("--force", action="store_true",
                        help="overwrite a course_lib/ that holds a learner's code (after backing it up)")
    args = parser.parse_args(argv)
    try:
        diffs = build(check_only=args.check, force=args.force)
    except BuildError as err:
        print(f"build error: {err}", file=sys.stderr)
        return 2
    except LearnerWorkError as err:
        print(err, file=sys.stderr)
        return 3
    if args.check:
        if diffs:
            print("Generated files are out of date:\n  " + "\n  ".join(diffs))
            return 1
        print("Generated files are up to date.")
        return 0
    print(f"Updated {len(diffs)} generated file(s)." if diffs else "Nothing to update.")
    for line in diffs:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
