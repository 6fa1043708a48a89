"""End to end in a real browser: JupyterLab, a kernel, the widgets drawn by Chromium.

Runs a workflow with a retrying step and sleeps, and checks that its timeline grows while
the run executes, that clicking a bar shows its details (user markup as text), and how fast
a 1,000-step timeline draws. Saves screenshots next to the test's tmp files.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_server import CHROMIUM_FLAGS, Lab, chromium
from notebook_kernel import kernel_name

__all__ = ["kernel_name"]

playwright = pytest.importorskip("playwright.sync_api",
                                 reason="pip install playwright (the test extras have it)")
expect = playwright.expect

EVIL = "<img src=x onerror=window.__pwned=1>"

CELLS = [
    # 0: the workflows
    f"""%load_ext pyworkflow_nb
import pyworkflow_nb as pw
tries = {{"n": 0}}

@pw.step(max_retries=3, retry_delay="0.4s")
def fetch(i):
    tries["n"] += 1
    if tries["n"] == 1:
        raise ConnectionError("flaky upstream")
    return {{"i": i, "note": {EVIL!r}}}

@pw.step
def tick(i):
    return i

@pw.workflow
async def pipeline(n):
    first = await fetch(0)
    for i in range(n):
        await tick(i)
        await pw.sleep("0.25s")
    return first

@pw.workflow
async def wide(n):
    for i in range(n):
        await tick(i)
    return n""",
    # 1: a live run, which settles into its static timeline when it ends
    "h = pw.SyncClient().start(pipeline, 12, run_id='pipe-1')\nh",
    # 2: the same run's interactive timeline
    "%wf show pipe-1",
    # 3: a finished 1,000-step run
    "import json\nbig = pw.SyncClient().start(wide, 1000)\nbig.result()\n"
    "big_state_bytes = len(json.dumps(big.timeline().state))\nprint(big_state_bytes)",
    # 4: its timeline, drawn from scratch
    "big.timeline()",
    # 5: the runs table
    "pw.runs_table()",
]

RUN_CELL = """async ([i, wait]) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  panel.content.activeCellIndex = i;
  const done = app.commands.execute("notebook:run-cell");
  if (wait) await done;
}"""

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === "idle";
}"""


def _notebook(path: Path, kernel: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nbformat.write(nb, path)


#: The setting README names for widgets that outlive their kernel (off by default in Lab).
SAVE_WIDGET_STATE = {"@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True}}


@pytest.fixture
def page(tmp_path: Path, kernel_name: str) -> Any:
    browser = chromium()
    root = tmp_path / "lab"
    root.mkdir()
    _notebook(root / "timeline.ipynb", kernel_name)
    with Lab(root, SAVE_WIDGET_STATE).running() as lab, playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=browser, headless=True,
            args=CHROMIUM_FLAGS[1:], viewport={"width": 1280, "height": 1000})
        try:
            page = context.new_page()
            page.goto(lab.url("lab/tree/timeline.ipynb"))
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            yield page
        finally:
            context.close()


def _cell(page: Any, i: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def test_timeline_in_jupyterlab(page: Any, tmp_path: Path) -> None:
    shots = Path(os.environ.get("PYWORKFLOW_NB_SCREENSHOTS", tmp_path))
    page.evaluate(RUN_CELL, [0, True])
    page.evaluate(RUN_CELL, [1, True])
    live = _cell(page, 1)
    segments = live.locator(".pw-tl-seg")
    settled = live.locator(".pw-timeline-static")
    live.locator(".pw-tl-seg, .pw-timeline-static").first.wait_for(timeout=30_000)
    if not segments.count():
        pytest.fail("JupyterLab drew the static fallback, not the widget: the ipywidgets and "
                    "anywidget front-end extensions are not in this environment's "
                    "share/jupyter/labextensions (pip install them into the env that runs "
                    "JupyterLab)")

    counts = []
    deadline = time.monotonic() + 30
    while not settled.count():
        assert time.monotonic() < deadline, "the run did not finish in the page"
        counts.append(segments.count())
        page.wait_for_timeout(100)
    counts = [c for c in counts if c]  # the last look may fall after the widget left
    grew = sorted(set(counts))
    assert len(grew) >= 3 and counts == sorted(counts), f"bars appear as the run goes: {counts}"
    expect(settled).to_contain_text("13 done / 13 total")
    expect(settled).to_contain_text("completed")
    assert segments.count() == 0, "the ended run's output settled into static HTML"

    page.evaluate(RUN_CELL, [2, True])
    live = _cell(page, 2)
    segments = live.locator(".pw-tl-seg")
    # workflow span + fetch (failed, retrying, completed) + 12 ticks + 12 sleeps
    expect(segments).to_have_count(1 + 3 + 12 + 12, timeout=30_000)
    final = segments.count()
    assert live.locator(".pw-tl-seg--retry").count() == 1, "the retry wait is its own bar"
    assert live.locator(".pw-tl-ptext").text_content() == "13 done / 13 total"

    # a fast first attempt is a sliver beside its retry wait: click it by event, not by pointer
    live.locator('.pw-tl-seg[data-row="fetch#1"]').first.dispatch_event("click")
    details = live.locator(".pw-tl-details")
    details.wait_for(state="visible")
    assert "flaky upstream" in details.text_content()
    live.locator('.pw-tl-seg[data-row="fetch#1"]').last.dispatch_event("click")
    expect(details).to_contain_text(EVIL)
    assert live.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    live.screenshot(path=str(shots / "timeline.png"))

    page.evaluate(RUN_CELL, [3, True])
    state_bytes = int(_cell(page, 3).locator(".jp-OutputArea-output").last.text_content())
    started = page.evaluate("performance.now()")
    page.evaluate(RUN_CELL, [4, False])
    big = _cell(page, 4)
    expect(big.locator(".pw-tl-ptext")).to_have_text("1000 done / 1000 total", timeout=30_000)
    drawn = page.evaluate("performance.now()") - started
    rows = big.locator(".pw-tl-label").count()
    report = {"state_bytes": state_bytes, "render_ms": round(drawn), "rows_in_dom": rows}
    (tmp_path / "browser_figures.json").write_text(json.dumps(report))
    print(f"1,000-step timeline: {report}")
    assert state_bytes < 1_000_000, report
    assert drawn < 3_000, report  # measured 250-500 ms here; the bound only catches a regression

    page.evaluate(RUN_CELL, [5, True])
    table = _cell(page, 5)
    table.locator(".pw-rt tbody tr").first.wait_for(timeout=30_000)
    assert table.locator(".pw-rt tbody tr").count() == 2
    table.screenshot(path=str(shots / "runs_table.png"))
    table.locator('.pw-rt button[data-action="timeline"]').last.click()
    expect(table.locator(".pw-tl-title")).to_have_text("pipeline")
    assert table.locator(".pw-tl-seg").count() == final, "the picked run's timeline, whole"

    # saved, its kernel shut down, reopened: the settled output shows the run's last state,
    # and widgets render from the state Lab saved (the setting README names)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    page.reload()
    reopened = _cell(page, 1).locator(".pw-timeline-static")
    reopened.wait_for(timeout=90_000)
    expect(reopened).to_contain_text("13 done / 13 total")
    expect(_cell(page, 2).locator(".pw-tl-ptext")).to_have_text("13 done / 13 total",
                                                                 timeout=30_000)
    expect(_cell(page, 4).locator(".pw-tl-ptext")).to_have_text("1000 done / 1000 total")
    assert "model not found" not in (page.locator(".jp-Notebook").text_content() or "")
