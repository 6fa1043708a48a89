"""marimo: the quickstart exported headless, and a `marimo run` app with two viewers in Chromium.

marimo runs every viewer's session on a thread and loop of its own in one process, closes a
session's loop when its page goes, and closes a cell's widgets when the cell runs again; a
cell's value replaces what the cell showed while it ran.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lab_server import CHROMIUM_FLAGS, chromium
from servers import free_port, stop

pytest.importorskip("marimo", reason="pip install marimo (the test extras have it)")
playwright = pytest.importorskip("playwright.sync_api",
                                 reason="pip install playwright (the test extras have it)")
expect = playwright.expect

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _export(notebook: Path) -> list[dict[str, Any]]:
    """``marimo export html`` the notebook; each cell's outputs from the page's session data."""
    out = notebook.with_suffix(".html")
    proc = subprocess.run([sys.executable, "-m", "marimo", "export", "html", notebook.name,
                           "-o", out.name], cwd=notebook.parent, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0 and "failed" not in proc.stderr, proc.stderr + proc.stdout
    page = out.read_text(encoding="utf-8")
    start = page.index('"session": {') + len('"session": ')
    session, _ = json.JSONDecoder().raw_decode(page, start)
    return session["cells"]  # type: ignore[no-any-return]


def test_the_marimo_quickstart_runs_headless_twice(tmp_path: Path) -> None:
    notebook = tmp_path / "quickstart_marimo.py"
    shutil.copy(NOTEBOOKS / notebook.name, notebook)
    for _ in range(2):  # the second pass finds run quick-1 in the store instead of redoing it
        cells = _export(notebook)
        outputs = [json.dumps(o["data"]) for c in cells for o in c["outputs"]]
        widgets = [o for o in outputs if "marimo-anywidget" in o]
        assert len(widgets) == 2, "the timeline and the runs table are anywidgets marimo draws"
        assert not any("not supported" in o for o in outputs), outputs
        sql = next(o for o in outputs if "max_attempts" in o)
        assert re.search(r"fetch.*?4", sql), "pw.sql sees the run an earlier cell started"
        assert any("paid 120, approved by ana" in o for o in outputs)
        assert "pw-timeline-static" in outputs[-1], "a finished run's handle: its timeline"
    assert (tmp_path / ".pyworkflow_nb" / "quickstart_marimo.duckdb").exists(), \
        "the store lives beside the notebook, named after it"


APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import pyworkflow_nb as pw
    started = []
    return mo, pw, started


@app.cell
def _(pw):
    @pw.step
    async def tick(i):
        return i

    @pw.workflow
    async def gated():
        await pw.wait_for_event("go")
        for i in range(3):
            await tick(i)
        return "done"

    @pw.workflow
    async def nap():
        await pw.sleep("3s")
        return "rested"
    return gated, nap


@app.cell
def _(mo):
    again = mo.ui.run_button(label="again")
    go = mo.ui.run_button(label="go")
    napping = mo.ui.run_button(label="nap")
    mo.hstack([again, go, napping])
    return again, go, napping


@app.cell
async def _(again, gated, pw, started):
    again.value
    h = await pw.start(gated)  # an async call first: the engine must not live on this loop
    started.append(h)
    h  # a live run's handle shows its live timeline
    return


@app.cell
async def _(go, started):
    if go.value:
        for run in started:
            await run.send_event("go")
    return


@app.cell
def _(pw):
    pw.runs_table()
    return


@app.cell
def _(mo, nap, napping, pw):
    mo.stop(not napping.value)
    pw.run(nap)
'''


@contextmanager
def _marimo_run(app: Path) -> Iterator[str]:
    port = free_port()
    log = app.with_suffix(".log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "marimo", "run", app.name, "--headless",
                                 "--host", "127.0.0.1", "--port", str(port), "--no-token",
                                 "--session-ttl", "0"],
                                cwd=app.parent, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{url}/health") is None:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return json.load(reply)
    except OSError:
        return None


def _closed_models_messaged(frames: list[str]) -> list[str]:
    """Model ids the page got a message for after the kernel closed them."""
    closed: set[str] = set()
    late = []
    for frame in frames:
        for model_id, kind in re.findall(r'"model_id":\s*"(\w+)".*?"method":\s*"(\w+)"', frame):
            if kind == "close":
                closed.add(model_id)
            elif model_id in closed:
                late.append(model_id)
    return late


def test_marimo_viewers_outlive_each_other_and_reruns_drop_old_widgets(tmp_path: Path) -> None:
    app = tmp_path / "gated_app.py"
    app.write_text(APP)
    with _marimo_run(app) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        errors: list[str] = []
        frames: list[str] = []
        first = browser.new_page()
        first.goto(url)
        expect(first.locator(".pw-tl-title")).to_have_text("gated", timeout=60_000)

        second = browser.new_page()
        second.on("pageerror", lambda e: errors.append(str(e)))
        second.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
            f if isinstance(f, str) else f.decode(errors="replace"))))
        second.goto(url)
        timeline = second.locator(".pw-tl").first
        expect(timeline.locator(".pw-tl-title")).to_have_text("gated", timeout=60_000)

        first.close()  # the first viewer's session, whose loop made the first async call, ends
        deadline = time.monotonic() + 30
        while (_get(f"{url}/api/status/connections") or {}).get("active") != 1:
            assert time.monotonic() < deadline, "marimo did not close the first session"
            time.sleep(0.1)

        # the start cell runs again: a new run, and marimo closes the old run's widget
        second.get_by_role("button", name="again", exact=True).click()
        expect(second.locator(".pw-tl")).to_have_count(1)
        expect(second.locator(".pw-rt-row")).to_have_count(3, timeout=30_000)
        second.get_by_role("button", name="go", exact=True).click()  # to both of this viewer's runs
        expect(second.locator(".pw-tl-ptext")).to_have_text("3 done / 3 total", timeout=30_000)
        expect(second.locator(".pw-rt-badge", has_text="completed")).to_have_count(2)
        table = second.locator(".pw-rt")
        table.locator('button[data-action="timeline"]').first.click()
        expect(table.locator(".pw-rt-timeline .pw-tl-ptext")).to_have_text("3 done / 3 total")

        second.get_by_role("button", name="nap", exact=True).click()
        expect(second.locator(".pw-tl-title", has_text="nap")).to_be_visible(timeout=30_000)
        expect(second.get_by_text("rested")).to_be_visible(timeout=30_000)
        expect(second.locator(".pw-tl-title", has_text="nap")).to_have_count(0)
        browser.close()
    assert _closed_models_messaged(frames) == [], \
        "a widget whose cell ran again stops following its run"
    assert not [e for e in errors if "Model not found" in e], errors
