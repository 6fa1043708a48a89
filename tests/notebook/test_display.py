"""Rich displays: escaped static HTML, readable reprs, and throttled live updates."""

from __future__ import annotations

import time

from ipyshell import Shell

import pyworkflow_nb as pw
from pyworkflow_nb.notebook import EventList, QueryResult, RunList
from pyworkflow_nb.notebook.live import MIN_INTERVAL, LiveRun
from pyworkflow_nb.runtime import runtime

SCRIPT = "<script>alert(1)</script>"


def test_user_values_are_escaped_everywhere(shell: Shell) -> None:
    shell.run(f"@pw.step\ndef evil(): return {SCRIPT!r}\n")
    shell.run("%%workflow xss() --run --id e1 --wait\nreturn await evil()\n")
    handle = pw.get_run("e1")
    pages = [handle._repr_html_(), EventList(handle.events())._repr_html_(),
             RunList([handle])._repr_html_(),
             QueryResult(["v"], [(SCRIPT,)])._repr_html_()]
    for page in pages:
        assert "<script" not in page
    assert "&lt;script&gt;" in pages[0] and "&lt;script&gt;" in pages[1]


def test_reprs_are_readable(shell: Shell) -> None:
    shell.run("%%workflow one() --run --id rp --wait\nreturn 1\n")
    handle = pw.get_run("rp")
    assert repr(handle) == "<RunHandle rp workflow=one status=completed>"
    assert "rp" in repr(RunList([handle]))
    assert "workflow.completed" in repr(EventList(handle.events()))
    assert repr(QueryResult(["a"], [(1,)])).splitlines() == ["a", "1"]
    assert repr(RunList()) == "no runs"


def test_live_display_is_throttled(shell: Shell) -> None:
    shell.run("@pw.step\ndef tick(i): return i\n")
    shell.run("%%workflow ticks(n)\nfor i in range(n):\n    await tick(i)\n"
              "    await pw.sleep(0.005)\nreturn n\n")
    handle = pw.SyncClient().start(shell.ns["ticks"], 60)
    started = time.monotonic()
    live = LiveRun(runtime.ensure(), handle)
    assert handle.result(timeout=20) == 60
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 5
    while live.engine.listeners and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(2 * MIN_INTERVAL)
    assert live._on_event not in live.engine.listeners
    assert 1 <= live.updates <= elapsed / MIN_INTERVAL + 2
