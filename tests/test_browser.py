"""What a learner sees in JupyterLab, in a real browser (headless Chromium driven by Playwright).

For every notebook: JupyterLab is started from the project's environment on a free port with a
token, the notebook is opened and run with "Run All" — on the untouched stubs (every check cell
shows ✗ with a hint, cells that need unwritten code say so, and nothing else goes wrong: Run All
reaches the last cell) and on the reference (no error, no ✗). On the reference, every widget is
used (a slider moved, text typed, a choice changed) and its output must change. Screenshots go to
``test-artifacts/browser/``.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package (in the lock
file). ``playwright install`` is never needed: the system's Chromium is used.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from grading import build

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "browser"
SOURCES = build.notebook_sources()
RUN_TIMEOUT_MS = 15 * 60 * 1000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on a folder holding `course_lib/` and `notebooks/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        env = dict(os.environ)
        env.update({"PYTHONPATH": str(root), "COURSE_MODE": "smoke", "COURSE_DEVICE": "cpu",
                    "COURSE_DATA_DIR": str(root / "cache"), "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
                    "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"), "OMP_NUM_THREADS": "2"})
        env.pop("MPLBACKEND", None)
        self.log = open(root / "lab.log", "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={self.port}",
             f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1",
             "--LabApp.expose_app_in_browser=True", "--allow-root"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:])

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/notebooks/{notebook}?token={self.token}&reset"

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass
        self.process.wait(30)
        self.log.close()


def _workspace(tmp: Path, variant: str) -> Path:
    """A course folder: the stubs and the self-study notebooks, or the reference and notebooks
    with the notebook-level exercises solved (hidden tests removed)."""
    root = tmp / variant
    (root / "notebooks").mkdir(parents=True)
    package = REPO / ("course_lib" if variant == "stubs" else "solutions/course_lib")
    shutil.copytree(package, root / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for source in SOURCES:
        nb = build.instructor_notebook(build.parse_notebook_source(source.read_text(encoding="utf-8"),
                                                                   str(source)), source.stem)
        nb = build.student_notebook(nb) if variant == "stubs" else _without_hidden(nb)
        nbformat.write(nb, root / "notebooks" / f"{source.stem}.ipynb")
    return root


def _without_hidden(nb):
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.source = build.remove_hidden_tests(cell.source)
    return nb


RUN_ALL = """
async () => {
  const app = window.jupyterapp;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  let panel = null;
  for (let i = 0; i < 600; i++) {
    panel = app.shell.currentWidget;
    if (panel && panel.sessionContext && panel.content && panel.content.model) {
      await panel.sessionContext.ready;
      if (panel.sessionContext.session && panel.sessionContext.session.kernel) break;
    }
    await sleep(200);
  }
  const kernel = panel.sessionContext.session.kernel;
  for (let i = 0; i < 600 && kernel.status !== 'idle'; i++) await sleep(200);
  await app.commands.execute('notebook:run-all-cells');
  for (let i = 0; i < 300 && kernel.status !== 'idle'; i++) await sleep(200);
  await sleep(1000);
  const cells = panel.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    out.push({source: c.sharedModel.getSource(), count: c.executionCount, outputs: c.outputs.toJSON()});
  }
  return out;
}
"""


def _text(cell: dict) -> str:
    parts = []
    for o in cell["outputs"]:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", [])))
    return "".join(parts)


def _errors(cells: list[dict]) -> list[str]:
    return [f"{o.get('ename')}: {str(o.get('evalue'))[:300]} (cell {c['source'][:60]!r})" for c in cells
            for o in c["outputs"] if o.get("output_type") == "error"]


OUTPUT_STATE = """
(cell) => {
  const parts = [];
  cell.querySelectorAll('img').forEach(img => parts.push(img.src.slice(-4000)));
  cell.querySelectorAll('.widget-output, .jp-OutputArea-output pre, .widget-html-content, svg')
      .forEach(el => { if (!el.closest('.widget-readout')) parts.push(el.innerHTML.slice(0, 20000)); });
  return parts.join('|');
}
"""


def _use_widgets(page, name: str) -> list[str]:
    """Move every slider, type into every text box, change every drop-down; return problems."""
    problems = []
    controls = page.locator(".jp-Cell .widget-slider .noUi-handle, .jp-Cell .widget-textarea textarea, "
                            ".jp-Cell .widget-text input, .jp-Cell .widget-dropdown select")
    count = controls.count()
    for index in range(count):
        control = controls.nth(index)
        cell = control.locator("xpath=ancestor::div[contains(@class,'jp-Cell')][1]")
        if control.evaluate("el => !!el.closest('[disabled]') || el.disabled === true"):
            continue  # a control the notebook disabled (e.g. a one-layer model's layer slider)
        control.scroll_into_view_if_needed()
        before = cell.evaluate(OUTPUT_STATE)
        tag = control.evaluate("el => el.tagName.toLowerCase()")
        if tag == "select":
            options = control.locator("option")
            current = control.input_value()
            values = [options.nth(i).get_attribute("value") for i in range(options.count())]
            choice = next((v for v in values if v != current), None)
            if choice is None:
                continue
            control.select_option(choice)
        elif tag in ("textarea", "input"):
            control.fill("the little dog saw a red ball")
            control.press("Enter")
        else:  # a slider's handle: move it right, or left where it already sits at its maximum
            control.focus()
            start = control.get_attribute("aria-valuenow")
            for _ in range(3):
                control.press("ArrowRight")
            if control.get_attribute("aria-valuenow") == start:
                for _ in range(6):
                    control.press("ArrowLeft")
        changed = False
        for _ in range(60):
            page.wait_for_timeout(500)
            if cell.evaluate(OUTPUT_STATE) != before:
                changed = True
                break
        cell.screenshot(path=str(ARTIFACTS / f"{name}-widget{index}.png"))
        if not changed:
            problems.append(f"widget #{index} ({tag}) did not change its output")
    return problems


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the browser tests (apt-get install chromium); "
                    ".ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def labs(tmp_path_factory, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("labs")
    started = {variant: Lab(_workspace(tmp, variant)) for variant in ("stubs", "reference")}
    yield started
    for lab in started.values():
        lab.close()


@pytest.mark.parametrize("variant", ["stubs", "reference"])
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_run_all_in_jupyterlab(source, variant, labs, browser):
    lab = labs[variant]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    name = f"{source.stem}-{variant}"
    try:
        page.set_default_timeout(RUN_TIMEOUT_MS)
        page.goto(lab.url(f"{source.stem}.ipynb"))
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
        cells = page.evaluate(RUN_ALL)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(cells, indent=1)[:2_000_000], encoding="utf-8")
        errors = _errors(cells)
        assert not errors, f"{name}: errors a learner would see:\n" + "\n".join(errors)
        not_run = [c["source"][:60] for c in cells if c["count"] is None and c["source"].strip()]
        assert not not_run, f"{name}: Run All did not reach these cells: {not_run[:5]}"
        checks = [c for c in cells if c["source"].startswith('check("')]
        assert checks, f"{name}: no check cells"
        for cell in checks:
            text = _text(cell)
            if variant == "stubs":
                assert text.count("✗") == 1 and "✓" not in text and "notebook" in text, (cell["source"], text)
            else:
                assert "✓" in text and "✗" not in text, (cell["source"], text)
        if variant == "reference":
            problems = _use_widgets(page, name)
            assert not problems, f"{name}: " + "; ".join(problems)
    finally:
        page.close()


def test_make_lab_opens_the_whole_course(tmp_path, browser):
    """`make lab`'s JupyterLab: rooted at the course (notebooks/ and course_lib/ side by side),
    notebook 01 open, a module openable beside it, and no nbgrader menu for the learner."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "--ServerApp.root_dir=\"$(CURDIR)\"" in makefile
    assert "default_url=/lab/tree/notebooks/01_tokenization.ipynb" in makefile
    root = _workspace(tmp_path, "stubs")
    lab = Lab(root)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{lab.port}/lab/tree/notebooks/01_tokenization.ipynb?token={lab.token}&reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
        page.wait_for_timeout(3000)
        opened = page.evaluate("""async () => {
            const app = window.jupyterapp;
            const first = app.shell.currentWidget.context.path;
            const w = await app.commands.execute('docmanager:open', {path: 'course_lib/tokenization.py'});
            await w.context.ready;
            return [first, w.context.path, w.context.model.toString().length];
        }""")
        assert opened[0] == "notebooks/01_tokenization.ipynb" and opened[1] == "course_lib/tokenization.py"
        assert opened[2] > 100
        page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:go-to-path', {path: '/'})")
        page.wait_for_timeout(1500)
        listing = page.locator(".jp-DirListing-itemText").all_inner_texts()
        assert "course_lib" in listing and "notebooks" in listing, listing
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert not any("grader" in m.lower() for m in menus), menus
        page.screenshot(path=str(ARTIFACTS / "make-lab.png"))
    finally:
        page.close()
        lab.close()
