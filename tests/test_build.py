"""One source, generated views: the views are up to date and carry no solution or hidden test."""

import pytest

from grading.build import BuildError, build, parse_notebook_source, stub_python
from support import REPO, find_leaks, secret_lines


def _skip_if_learner_work():
    from grading.build import learner_work

    work = learner_work()
    if work:
        pytest.skip("course_lib/ holds your own code (" + ", ".join(work) + "): this check is for a clean "
                    "clone of the course (CI runs it). To test your code, run `make check`.")


def test_generated_files_are_up_to_date():
    _skip_if_learner_work()
    diffs = build(check_only=True)
    assert not diffs, "run `make build` and commit:\n" + "\n".join(diffs)


def test_there_are_secrets_to_protect():
    # Guards the leak test below against passing because it looks for nothing.
    assert len(secret_lines()) > 50


def test_no_solution_or_hidden_test_reaches_student_files():
    _skip_if_learner_work()
    student_views = [REPO / "course_lib", REPO / "notebooks"]
    leaks = find_leaks(student_views)
    assert not leaks, "solution text in student files:\n" + "\n".join(leaks[:20])


def test_leak_detector_finds_a_planted_leak(tmp_path):
    secret = sorted(secret_lines())[0]
    (tmp_path / "planted.py").write_text(f"x = 1\n    {secret}\n", encoding="utf-8")
    assert find_leaks([tmp_path])
    # ... also when a traceback quotes it behind a line number
    (tmp_path / "planted.py").write_text(f"x = 1\n----> 12     {secret}\n", encoding="utf-8")
    assert find_leaks([tmp_path])


SAMPLE = '''
def total(
    values,
) -> int:
    """Sum values."""
    ### BEGIN SOLUTION [09 §2] Add them up one by one.
    return sum(values)
    ### END SOLUTION

class Box:
    def size(self):
        ### BEGIN SOLUTION [09 §3]
        return 3
        ### END SOLUTION

### BEGIN SOLUTION [09 §4] Write a helper.
HELPER = 1
### END SOLUTION
'''


def test_stubs_raise_with_function_section_and_hint():
    namespace = {}
    exec(stub_python(SAMPLE), namespace)
    with pytest.raises(NotImplementedError, match=r"total\(\) is not written yet \(notebook 09, §2\)\. Hint: Add"):
        namespace["total"]([1, 2])
    with pytest.raises(NotImplementedError, match=r"Box\.size\(\)"):
        namespace["Box"]().size()
    assert "HELPER" not in namespace  # a module-level region becomes a comment, not a crash at import


@pytest.mark.parametrize("broken", [
    "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
    "def f():\n    return 1\n    ### END SOLUTION\n",
    "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n",
])
def test_unbalanced_markers_are_build_errors(broken):
    with pytest.raises(BuildError):
        stub_python(broken)


def test_notebook_source_parsing():
    cells = parse_notebook_source(
        "# header comment\n# %% [markdown]\n# # Title\n#\n# text\n# %% [setup]\nimport x\n"
        "# %% [test mod.thing points=2 hidden]\n# %%\nprint(1)\n")
    assert [c.kind for c in cells] == ["markdown", "setup", "test", "code"]
    assert cells[0].source == "# Title\n\ntext"
    assert (cells[2].name, cells[2].points, cells[2].hidden) == ("mod.thing", 2.0, True)
    with pytest.raises(BuildError):
        parse_notebook_source("# %% [test mod.thing]\n")  # no points
    with pytest.raises(BuildError):
        parse_notebook_source("# %% [quiz]\n")


@pytest.mark.parametrize("broken, why", [
    ("# %% [test mod.thing points=two]\n", "points must be a number"),
    ("# %%\nx = 1  ### BEGIN HIDDEN TESTS\n", "must start its own line"),
    ("# %%\n### BEGIN HIDDEN TESTS\ncheck('a')\n# %%\n", "never closed"),
    ("# %%\n### END HIDDEN TESTS\n", "without a BEGIN"),
    ("# %% [exercise e]\n### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("# %%[markdown\n# text\n", "malformed cell header"),
])
def test_malformed_notebook_sources_are_build_errors_with_a_line(broken, why):
    with pytest.raises(BuildError, match=why) as info:
        parse_notebook_source(broken, "nb.py")
    assert "nb.py:" in str(info.value)


def test_no_generated_copy_of_the_package_is_committed():
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "grading"], cwd=REPO, capture_output=True, text=True).stdout
    assert not [line for line in tracked.splitlines() if "/course_lib/" in line or "nbgrader/source" in line]


def test_stub_hints_do_not_quote_their_solution():
    """A stub's hint names the goal; it never gives away 30 characters of the solution."""
    from grading.build import SOLUTIONS, solution_regions

    offenders = []
    for path in sorted((SOLUTIONS / "course_lib").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for region in solution_regions(text, str(path)):
            body = " ".join(" ".join(region.body).split())
            hint = " ".join(region.hint.split())
            for start in range(0, max(0, len(hint) - 29)):
                if hint[start:start + 30] in body:
                    offenders.append(f"{path.name}:{region.start + 1}: {hint[start:start + 30]!r}")
                    break
    assert not offenders, "hints that quote their solution:\n" + "\n".join(offenders)


def test_build_refuses_to_overwrite_a_learners_work(tmp_path, monkeypatch):
    """A learner who filled in a stub and runs `make build` loses nothing."""
    import shutil

    import grading.build as b

    fake_repo = tmp_path / "repo"
    shutil.copytree(REPO / "solutions", fake_repo / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    b.build_into(fake_repo)  # a clean clone's generated files
    target = fake_repo / "course_lib" / "positional.py"
    mine = (REPO / "solutions" / "course_lib" / "positional.py").read_text(encoding="utf-8")
    target.write_text(mine, encoding="utf-8")  # the learner's (correct) work
    (fake_repo / "solutions" / "course_lib" / "device.py").write_text(
        (REPO / "solutions" / "course_lib" / "device.py").read_text(encoding="utf-8") + "\n# changed\n",
        encoding="utf-8")  # a course change, so that the build has something to do
    monkeypatch.setattr(b, "REPO", fake_repo)
    monkeypatch.setattr(b, "SOLUTIONS", fake_repo / "solutions")
    assert b.learner_work() == ["course_lib/positional.py"]
    with pytest.raises(b.LearnerWorkError, match="make check"):
        b.build()
    assert target.read_text(encoding="utf-8") == mine
    b.build(force=True)
    backups = list((fake_repo / ".course_backup").glob("*/course_lib/positional.py"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == mine
