"""The notebooks in a real JupyterLab 4, in a real Chromium, with no network but loopback.

For every curated notebook: run all cells in the browser, and open a copy executed
headless by papermill (its outputs untrusted, as on any reopened notebook). Every chart
must be drawn (an SVG with marks), no output may say "Error loading script", no request
may leave loopback and the browser console must stay free of errors. Then a click on a
chart mark must change the linked views: a bar of the linked view (01), a node of the
explorer's topology (00, 02). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowlab.views.offline import VEGA_MIME
from tests.notebooks.lab import ROOT, Lab, OfflineBrowser, offline_browser, start_lab
from tests.notebooks.test_execute import NAMES

pytestmark = [pytest.mark.browser, pytest.mark.notebooks, pytest.mark.slow]

#: the notebook without charts (tables and YAML): opened and run offline on its own
POLICY = "05-policy-and-change"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the notebooks: JupyterLab saves what it runs."""
    root = tmp_path_factory.mktemp("lab-root")
    for name in [*NAMES, POLICY]:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", root / f"{name}.ipynb")
    return root


class Executed:
    """Papermill executes copies of the notebooks, one after the other, in the background
    (while the browser runs the others); :meth:`path` waits for one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[str, threading.Event] = {n: threading.Event() for n in NAMES}
        self.failed: dict[str, str] = {}
        self.procs: list[subprocess.Popen[str]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        )
        for name in NAMES:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "papermill",
                    str(self.root / f"{name}.ipynb"),
                    str(self.root / f"{name}-executed.ipynb"),
                    "-p",
                    "OUT_DIR",
                    str(self.root / "out" / name),
                    "--cwd",
                    str(self.root),
                    "-k",
                    "python3",
                    "--no-progress-bar",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            self.procs.append(proc)
            out, _ = proc.communicate()
            if proc.returncode != 0:
                self.failed[name] = out[-3000:]
            self.done[name].set()

    def path(self, name: str) -> Path:
        assert self.done[name].wait(timeout=900), f"papermill did not finish {name}"
        assert name not in self.failed, self.failed[name]
        return self.root / f"{name}-executed.ipynb"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture(scope="module")
def executed(workdir: Path) -> Iterator[Executed]:
    # the copies are taken before JupyterLab saves anything into the originals
    src = workdir / "clean"
    src.mkdir()
    for name in NAMES:
        shutil.copy(workdir / f"{name}.ipynb", src / f"{name}.ipynb")
    runner = Executed(src)
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture(scope="module")
def lab(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab-home")
    # draw every cell, not only those scrolled into view, so that every output can be checked
    tracker = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    with start_lab(workdir, home) as server:
        yield server


@pytest.fixture
def browser(lab: Lab, request: pytest.FixtureRequest) -> Iterator[OfflineBrowser]:
    with offline_browser() as b:
        try:
            yield b
        finally:
            # what the page showed at the end, pass or fail
            name = request.node.name.replace("[", "-").replace("]", "")
            b.screenshot(f"{name}-last.png")
    lab.shutdown_kernels()


def _charts(nb: dict[str, Any]) -> int:
    """How many Vega outputs the (executed) notebook holds."""
    return sum(VEGA_MIME in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def _charts_in(path: Path) -> int:
    return _charts(json.loads(path.read_text()))


_STATE = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim());
  const charts = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedVegaCommon5')).map(o => ({
    marks: o.querySelectorAll('svg .role-mark').length,
    height: o.getBoundingClientRect().height,
    error: (o.querySelector('.vega-embed') === null ? 'not embedded ' : '') + o.innerText.slice(0, 200),
  }));
  const text = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook')?.innerText || '';
  return {prompts, charts, text};
}"""


def _open(b: OfflineBrowser, lab: Lab, path: str) -> None:
    # a fresh workspace: only this notebook open (JupyterLab would restore the last one's tabs)
    b.page.goto(lab.url(f"lab/tree/{path}") + "&reset")
    b.page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)


def _wait_charts(b: OfflineBrowser, at_least: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = b.page.evaluate(_STATE)
        drawn = [c for c in state["charts"] if c["marks"] > 0 and c["height"] > 40]
        busy = any(p.startswith("[*]") for p in state["prompts"])
        if not busy and len(drawn) >= at_least and len(drawn) == len(state["charts"]):
            return state
        if time.monotonic() > deadline:
            return state
        time.sleep(1)


def _check(b: OfflineBrowser, state: dict[str, Any], charts: int, shot: str) -> None:
    b.screenshot(shot)
    assert "Error loading script" not in state["text"]
    assert "Javascript Error" not in state["text"]
    assert "Error displaying widget" not in state["text"]
    assert not any(p.startswith("[*]") for p in state["prompts"]), state["prompts"]
    empty = [c for c in state["charts"] if c["marks"] == 0 or c["height"] <= 40]
    assert not empty, f"empty chart outputs: {empty}"
    assert len(state["charts"]) >= charts, (len(state["charts"]), charts)
    assert not b.blocked, f"requests outside loopback: {b.blocked}"
    assert not b.errors, f"browser console errors: {b.errors}"


def _run_all(b: OfflineBrowser) -> None:
    page = b.page
    # the kernel must be connected before "Run All Cells" is chosen from the Run menu
    b.wait_for_kernel()
    page.wait_for_timeout(1000)
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    time.sleep(2)


def _wait_done(b: OfflineBrowser, timeout: float = 300) -> None:
    page = b.page
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.evaluate(_STATE)["prompts"]
        if prompts and all(p not in ("[*]:", "[ ]:", "") for p in prompts):
            return
        time.sleep(1)
    pytest.fail(f"the notebook did not finish: {page.evaluate(_STATE)['prompts']}")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_offline(
    name: str, lab: Lab, workdir: Path, executed: Executed, browser: OfflineBrowser
) -> None:
    _open(browser, lab, f"{name}.ipynb")
    _run_all(browser)
    _wait_done(browser)
    browser.screenshot(f"notebook-{name}-run.png")
    # as many charts as the same notebook executed by papermill holds
    charts = _charts_in(executed.path(name))
    assert charts >= 1
    state = _wait_charts(browser, charts)
    _check(browser, state, charts, f"notebook-{name}-run.png")
    if name == "01-client-server":
        _click_linked_view(browser)
    if name in ("00-quickstart", "02-traffic-details"):
        _click_explorer(browser, name)


@pytest.mark.parametrize("name", NAMES)
def test_executed_notebook_reopens_offline(
    name: str, lab: Lab, executed: Executed, browser: OfflineBrowser
) -> None:
    charts = _charts_in(executed.path(name))
    assert charts >= 1
    _open(browser, lab, f"clean/{name}-executed.ipynb")
    state = _wait_charts(browser, charts, timeout=90)
    _check(browser, state, charts, f"notebook-{name}-reopened.png")
    if name == "01-client-server":
        _click_linked_view(browser)
    if name == "00-quickstart":
        _click_explorer(browser, f"{name}-reopened")


def test_policy_notebook_runs_offline(lab: Lab, browser: OfflineBrowser) -> None:
    """The policy notebook (no charts: tables, YAML, text) runs in the browser with the network
    blocked, and shows what it finds: the proposal and the newly denied client."""
    _open(browser, lab, f"{POLICY}.ipynb")
    _run_all(browser)
    _wait_done(browser)
    state: dict[str, Any] = browser.page.evaluate(_STATE)
    _check(browser, state, 0, f"notebook-{POLICY}-run.png")
    assert "Proposal(policies=2" in state["text"]
    assert "newly denied: shop/frontend -> " in state["text"]


def _texts(output: Any, selector: str) -> list[str]:
    return [t.strip() for t in output.locator(selector).all_text_contents()]


def _click_linked_view(b: OfflineBrowser) -> None:
    """Click the first client bar of the linked view: the server bars and the table follow."""
    view = b.page.locator(".jp-RenderedVegaCommon5", has_text="top conversations").first
    view.scroll_into_view_if_needed()
    before = view.locator("svg").inner_html()
    bars = view.locator("g.mark-rect.role-mark path")
    assert bars.count() > 2
    bars.first.click()
    b.page.wait_for_timeout(800)
    after = view.locator("svg").inner_html()
    assert after != before, "clicking a bar changed nothing in the linked view"
    table_before = before.count("→")
    assert table_before > 0
    # the table (text marks) now lists only the clicked client's conversations
    assert after.count("→") <= table_before
    b.screenshot("linked-view-clicked.png")
    assert not b.errors, b.errors


_SCROLL = "() => document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer').scrollTop"


def _xy(transform: str | None) -> tuple[float, float]:
    """``translate(x,y)`` -> (x, y)."""
    assert transform and transform.startswith("translate("), transform
    x, y = transform[len("translate(") : -1].split(",")
    return float(x), float(y)


# the topology's plot area: the background of the group holding its marks
_PLOT = """g => {
  const r = g.parentElement.parentElement.querySelector(':scope > path.background')
    .getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height};
}"""


def _wheel_scrolls_and_ctrl_wheel_zooms(b: OfflineBrowser, view: Any) -> None:
    """Over the topology the wheel scrolls the notebook; ctrl+wheel zooms; double-click resets."""
    page = b.page
    node = view.locator("g.topology_nodes_0_marks path").first

    def hover() -> tuple[float, float]:
        # the middle of the topology's plot (its background, or a mark: both are in its scope)
        box = view.locator("g.topology_nodes_0_marks").evaluate(_PLOT)
        at = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(*at)
        return at

    hover()
    at, top = node.get_attribute("transform"), page.evaluate(_SCROLL)
    page.mouse.wheel(0, 240)
    page.wait_for_timeout(600)
    assert page.evaluate(_SCROLL) > top, "the wheel over the topology did not scroll the notebook"
    assert node.get_attribute("transform") == at, "the plain wheel zoomed the topology"
    view.scroll_into_view_if_needed()
    hover()
    top = page.evaluate(_SCROLL)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    page.wait_for_timeout(600)
    assert node.get_attribute("transform") != at, "ctrl+wheel did not zoom the topology"
    assert page.evaluate(_SCROLL) == top
    page.mouse.dblclick(*hover())
    page.wait_for_timeout(600)
    back = _xy(node.get_attribute("transform"))
    assert all(abs(a - b) < 1.5 for a, b in zip(back, _xy(at), strict=True)), (
        f"double-click did not reset the zoom: {at} -> {back}"
    )


def _conversations(texts: list[str]) -> int:
    """N of the table's footer 'rows 1–15 of N conversations'."""
    footer = [t for t in texts if t.startswith("rows ") and "conversations" in t]
    assert footer, texts[-5:]
    return int(footer[0].split(" of ")[1].split()[0])


def _click_explorer(b: OfflineBrowser, label: str) -> None:
    """Wheel and zoom over the explorer's topology, then click a node: the flow table changes."""
    view = b.page.locator(".jp-RenderedVegaCommon5", has_text="flows (filtered").first
    view.scroll_into_view_if_needed()
    table = "g.mark-text.role-mark text"
    before = _texts(view, table)
    nodes = view.locator("g.topology_nodes_0_marks path")
    assert nodes.count() >= 2, "no topology nodes drawn"
    _wheel_scrolls_and_ctrl_wheel_zooms(b, view)
    # the smallest node: its conversations are a part of the table's, whatever the filters
    nodes.last.click(force=True)
    b.page.wait_for_timeout(1000)
    after = _texts(view, table)
    assert after != before, "clicking a node did not change the flow table"
    # the table now holds only the clicked node's conversations: fewer than before
    assert _conversations(after) < _conversations(before), (before[-1:], after[-1:])
    b.screenshot(f"explorer-{label}-node-clicked.png")
    if label == "00-quickstart":
        b.screenshot("explorer.png")  # docs/img/explorer.png is a copy of it
    assert not b.errors, b.errors
