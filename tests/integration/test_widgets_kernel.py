"""The timeline and runs-table widgets in a real kernel, driven over the comm protocol."""

from __future__ import annotations

import copy
import time
from pathlib import Path

from notebook_kernel import kernel_name
from widget_kernel import widget_kernel

from pyworkflow_nb.notebook.timeline_data import apply_delta

__all__ = ["kernel_name"]

TIMELINE = "pyworkflow_nb.notebook.timeline_widget.TimelineWidget"
TABLE = "pyworkflow_nb.notebook.runs_table_widget.RunsTable"

SETUP = """
%load_ext pyworkflow_nb
import pyworkflow_nb as pw
tries = {"n": 0}

@pw.step(max_retries=2, retry_delay="0.2s")
def flaky(x):
    tries["n"] += 1
    if tries["n"] == 1:
        raise ValueError("<b>first try fails</b>")
    return x * 2

@pw.workflow
async def demo(n):
    total = 0
    for i in range(n):
        total += await flaky(i)
    await pw.sleep("0.3s")
    return total + await pw.wait_for_event("go")

@pw.workflow
async def waiter():
    return await pw.wait_for_event("go")

@pw.step
def part(i):
    return i

@pw.workflow
async def report(n):
    return await part(n)

@pw.workflow
async def parent():
    return [await report(1), await report(2)]

@pw.workflow
async def fan(n, pause):
    for i in range(n):
        await part(i)
        await pw.sleep(pause)
    return n
"""


def test_timeline_follows_the_run_with_deltas_and_answers_views(tmp_path: Path,
                                                                  kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        started = time.monotonic()
        k.execute("h = pw.SyncClient().start(demo, 3)\nh")
        widget = k.model_of(TIMELINE)
        assert "application/vnd.jupyter.widget-view+json" in k.displays[-1]
        assert "<svg" in k.displays[-1]["text/html"], "static fallback for pages without widgets"
        state = copy.deepcopy(k.opened[widget]["state"])
        seen = 0

        def applied() -> dict:
            nonlocal state, seen
            for content in k.replies(widget, "delta")[seen:]:
                assert content["delta"]["base"] == state["seq"], "deltas chain on seq"
                state = apply_delta(state, content["delta"])
                seen += 1
            return state

        k.pump(lambda: any(r["kind"] == "wait" and r["status"] == "waiting"
                           for r in applied()["rows"]))
        assert applied()["run"]["status"] == "waiting"
        rows = {r["id"]: r for r in state["rows"]}
        assert [s["status"] for s in rows["flaky#1"]["segments"]] == \
            ["failed", "retrying", "completed"], "each attempt its own segment"
        assert rows["sleep#1"]["segments"][0]["status"] == "completed"
        assert state["progress"] == {"done": 3, "failed": 0, "total": 3}
        assert 2 <= seen <= (time.monotonic() - started) / 0.1 + 2, "throttled to 10/s"

        k.send(widget, {"type": "details", "row": "flaky#1", "attempt": 1, "req": "r1"})
        k.pump(lambda: k.replies(widget, "details"))
        details = k.replies(widget, "details")[0]
        assert details["req"] == "r1" and details["found"]
        assert details["error"]["message"] == "<b>first try fails</b>"
        assert "ValueError" in details["error"]["traceback"]

        k.send(widget, {"type": "sync", "seq": state["seq"]})  # up to date: no answer
        k.send(widget, {"type": "sync", "seq": 0})  # a view built from the old trait
        k.pump(lambda: k.replies(widget, "state"))
        assert k.replies(widget, "state") == [{"type": "state", "state": state}]

        k.execute("h.send_event('go', 100)")
        k.pump(lambda: applied()["run"]["status"] == "completed")
        k.pump(lambda: widget in k.closed)
        settled = k.displays[-1]
        assert set(settled) == {"text/plain", "text/html"}, \
            "the shown view settles into the static timeline: no widget left to reopen"
        assert "completed" in settled["text/html"] and "<svg" in settled["text/html"]
        k.execute("from pyworkflow_nb.runtime import runtime\n"
                  "assert h.result() == 106 and runtime.engine.listeners == []")

        k.execute("h")  # a finished run: the static timeline, no widget
        assert set(k.displays[-1]) == {"text/plain", "text/html"}
        assert k.model_of(TIMELINE) == widget, "no new widget for a finished run"


def test_a_timeline_widget_value_stays_interactive_with_its_final_state(
        tmp_path: Path, kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        k.execute("w = pw.SyncClient().start(fan, 8, 0.5)\ntl = w.timeline()\ntl")
        widget = k.model_of(TIMELINE)
        assert "application/vnd.jupyter.widget-view+json" in k.displays[-1]

        def trait() -> dict:
            return k.models[widget]["state"]  # type: ignore[no-any-return]

        k.pump(lambda: 2 <= trait()["progress"]["done"] < 8, timeout=10)
        assert trait()["run"]["status"] != "completed", \
            "the trait follows the live run (for saved widget state), not only its start"
        k.pump(lambda: k.models[widget]["state"]["run"]["status"] == "completed")
        assert widget not in k.closed, "a widget value is not closed at the run's end"
        assert k.models[widget]["state"]["rows"][-1]["status"] == "completed", \
            "the trait holds the final state, for front-ends that save widget state"


def test_runs_table_lists_runs_live_and_acts_on_them(tmp_path: Path, kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        k.execute("done = pw.SyncClient().start(waiter); done.send_event('go', 1); done.result()")
        k.execute("%wf runs")
        table = k.model_of(TABLE)
        assert [r["status"] for r in k.models[table]["runs"]] == ["completed"]
        assert "<table" in k.displays[-1]["text/html"]

        k.execute("w = pw.SyncClient().start(waiter)")

        def status_of(run_id: str) -> str | None:
            runs = {r["run_id"]: r for r in k.models[table]["runs"]}
            return runs[run_id]["status"] if run_id in runs else None

        run_id = k.execute("print(w.run_id)").strip()
        k.pump(lambda: status_of(run_id) == "waiting")
        runs = k.models[table]["runs"]
        assert runs[0]["run_id"] == run_id, "newest first"

        k.send(table, {"type": "action", "action": "send_event", "run_id": run_id,
                       "event": "go", "payload": {"by": "ana"}})
        k.pump(lambda: k.replies(table, "action_result"))
        assert k.replies(table, "action_result")[0]["ok"] is True
        k.pump(lambda: status_of(run_id) == "completed")

        k.send(table, {"type": "action", "action": "retry", "run_id": run_id})
        k.pump(lambda: len(k.replies(table, "action_result")) == 2)
        refused = k.replies(table, "action_result")[1]
        assert refused["ok"] is False and "completed" in refused["message"]

        k.send(table, {"type": "action", "action": "send_event", "run_id": run_id, "event": " "})
        k.send(table, {"type": "action", "action": "timeline", "run_id": "no-such-run"})
        k.send(table, {"type": "action", "action": "cancel", "run_id": "no-such-run"})
        k.pump(lambda: len(k.replies(table, "action_result")) == 5)
        bad = k.replies(table, "action_result")[2:]
        assert [r["ok"] for r in bad] == [False, False, False]
        assert "needs an event name" in bad[0]["message"]
        assert all("no-such-run" in r["message"] for r in bad[1:]), bad

        assert k.models[table]["state"] == {}, "no timeline until one is picked"
        models = len(k.models)
        k.send(table, {"type": "action", "action": "timeline", "run_id": run_id})
        k.pump(lambda: len(k.replies(table, "action_result")) == 6)
        k.pump(lambda: k.models[table]["state"].get("run", {}).get("run_id") == run_id)
        assert k.models[table]["state"]["run"]["status"] == "completed"
        assert len(k.models) == models, "the timeline is drawn by the table's own model"
        assert "export class TimelineView" in k.models[table]["_timeline_esm"]

        other = k.execute("w2 = pw.SyncClient().start(waiter)\nprint(w2.run_id)").strip()
        k.pump(lambda: status_of(other) == "waiting")
        k.send(table, {"type": "action", "action": "timeline", "run_id": other})
        k.pump(lambda: k.models[table]["state"].get("run", {}).get("run_id") == other)
        for action, status in (("pause", "paused"), ("resume", "waiting"),
                               ("terminate", "terminated")):
            k.send(table, {"type": "action", "action": action, "run_id": other})
            k.pump(lambda wanted=status: status_of(other) == wanted)
        assert [r["ok"] for r in k.replies(table, "action_result")[-3:]] == [True] * 3
        k.pump(lambda: k.models[table]["state"]["run"]["status"] == "terminated")
        assert k.replies(table, "delta"), "the picked live run's timeline follows it"



def test_the_timeline_gets_its_deltas_while_a_cell_blocks(tmp_path: Path,
                                                          kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        k.execute("h = pw.SyncClient().start(fan, 4, 0.1)\nh")
        widget = k.model_of(TIMELINE)
        state = copy.deepcopy(k.opened[widget]["state"])
        k.execute("import time; time.sleep(2.5)")  # the kernel's thread is busy all along
        for content in k.replies(widget, "delta"):
            assert content["delta"]["base"] == state["seq"], "deltas chain on seq"
            state = apply_delta(state, content["delta"])
        assert state["run"]["status"] == "completed"
        assert state["progress"] == {"done": 4, "failed": 0, "total": 4}


def test_a_long_pw_run_in_a_cell_shows_its_progress(tmp_path: Path, kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        assert k.execute("print(pw.run(fan, 3, 0))").strip() == "3"
        assert not any(s.get("_anywidget_id") == TIMELINE for s in k.models.values()), \
            "a quick run shows nothing"
        # ~1.6 s: over PROGRESS_AFTER
        assert k.execute("print(pw.run(fan, 8, 0.2))").strip() == "8"
        widget = k.model_of(TIMELINE)
        k.pump(lambda: widget in k.closed)
        assert set(k.displays[-1]) == {"text/plain", "text/html"}, "settled at the end"
        assert "8 done / 8 total" in k.displays[-1]["text/html"]
        assert "completed" in k.displays[-1]["text/html"]


def test_the_timeline_opens_child_runs_and_goes_back(tmp_path: Path, kernel_name: str) -> None:
    with widget_kernel(tmp_path, kernel_name) as k:
        k.execute(SETUP)
        k.execute("p = pw.SyncClient().start(parent); p.result(); p.timeline()")
        widget = k.model_of(TIMELINE)
        state = k.models[widget]["state"]
        children = [r for r in state["rows"] if r["kind"] == "child"]
        assert [r["status"] for r in children] == ["completed", "completed"]
        child_id = children[1]["run_id"]

        k.send(widget, {"type": "open", "run_id": child_id})
        k.pump(lambda: k.models[widget]["state"]["run"]["run_id"] == child_id)
        child = k.models[widget]["state"]["run"]
        assert child["workflow"] == "report" and child["parent_run_id"] == state["run"]["run_id"]
        k.send(widget, {"type": "open", "run_id": "no-such-run"})  # ignored
        k.send(widget, {"type": "open", "run_id": child["parent_run_id"]})
        k.pump(lambda: k.models[widget]["state"]["run"]["run_id"] == state["run"]["run_id"])
