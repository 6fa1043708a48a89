"""The run-timeline state: folding events, gaps, layout, deltas, details, size and speed."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pyworkflow_nb.notebook.timeline_data import (
    apply_delta,
    build_state,
    details_for,
    diff_state,
)
from pyworkflow_nb.notebook.timeline_layout import GAP_PX, layout, time_to_x

T0 = 1_700_000_000.0
EXTENSION = Path(__file__).resolve().parents[2] / "extension"


class Log:
    """Builds a run's event rows the way the engine records them."""

    def __init__(self, run_id: str = "r1") -> None:
        self.run_id = run_id
        self.events: list[dict[str, Any]] = []

    def add(
        self, dt: float, typ: str, step: str | None = None, attempt: int | None = None, **data: Any
    ) -> Log:
        self.events.append(
            {
                "run_id": self.run_id,
                "seq": len(self.events) + 1,
                "ts": T0 + dt,
                "type": typ,
                "step": step,
                "attempt": attempt,
                "data": data,
            }
        )
        return self

    def start(self, dt: float = 0.0, name: str = "wf") -> Log:
        return self.add(
            dt, "workflow.started", workflow=name, version="v1", input={"args": [1], "kwargs": {}}
        )

    def step(self, dt: float, sid: str, took: float = 1.0, result: Any = "ok") -> Log:
        self.add(dt, "step.started", sid, 1, input={"args": [sid], "kwargs": {"k": 1}})
        return self.add(dt + took, "step.completed", sid, 1, result=result)


def big_log(n: int = 1000, out: Any = None) -> tuple[Log, float]:
    """A finished run of ``n`` steps with retries and three 3-hour sleeps."""
    log = Log().start()
    t = 0.0
    for i in range(1, n + 1):
        sid = f"fetch#{i}"
        value = out if out is not None else {"i": i, "text": "y" * 300}
        log.add(t, "step.started", sid, 1, input={"args": [i, "x" * 40], "kwargs": {"k": i}})
        if i % 50 == 0:
            err = {"type": "IOError", "message": "flaky", "traceback": "Traceback\n" * 100}
            log.add(t + 0.2, "step.failed", sid, 1, error=err, retry_at=T0 + t + 2.2, final=False)
            log.add(t + 2.2, "step.started", sid, 2, input={"args": [i], "kwargs": {}})
            t += 2.2
            log.add(t + 0.3, "step.completed", sid, 2, result=value)
        else:
            log.add(t + 0.3, "step.completed", sid, 1, result=value)
        t += 0.3
        if i % 300 == 0:
            log.add(t, "timer.started", f"sleep#{i // 300}", until=T0 + t + 10800)
            t += 10800
            log.add(t, "timer.fired", f"sleep#{i // 300}")
    log.add(t + 0.1, "workflow.completed", result=[1, 2, 3])
    return log, T0 + t + 1


def by_id(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in state["rows"]}


# -- folding events -----------------------------------------------------------------------


def test_empty_history_is_pending() -> None:
    state = build_state([], T0)
    assert state["run"]["status"] == "pending"
    assert [r["id"] for r in state["rows"]] == ["workflow"]
    assert state["progress"] == {"done": 0, "failed": 0, "total": 0}
    json.dumps(state)


def test_completed_run_rows_labels_and_progress() -> None:
    log = Log().start()
    log.step(0.1, "fetch#1", result={"a": 1}).step(1.2, "fetch#2").step(2.3, "parse#1")
    log.add(3.4, "workflow.completed", result={"__pw_pickle__": "...", "type": "X", "repr": "X(1)"})
    state = build_state(log.events, T0 + 10)
    assert state["run"] | {"error": None} == {
        "run_id": "r1",
        "workflow": "wf",
        "version": "v1",
        "status": "completed",
        "start": T0,
        "end": T0 + 3.4,
        "cancel_requested": False,
        "error": None,
    }
    assert [(r["id"], r["kind"], r["label"]) for r in state["rows"]] == [
        ("workflow", "workflow", "workflow"),
        ("fetch#1", "step", "fetch"),
        ("fetch#2", "step", "fetch #2"),
        ("parse#1", "step", "parse"),
    ]
    rows = by_id(state)
    seg = rows["fetch#1"]["segments"][0]
    assert seg | {"input": None} == {
        "attempt": 1,
        "start": T0 + 0.1,
        "end": T0 + 1.1,
        "status": "completed",
        "until": None,
        "input": None,
        "output": '{"a": 1}',
        "error": None,
        "truncated": False,
    }
    assert seg["input"] == '"fetch#1", k=1'
    assert rows["workflow"]["segments"][0]["input"] == "1"
    assert rows["workflow"]["segments"][0]["output"] == "X(1)"
    assert state["progress"] == {"done": 3, "failed": 0, "total": 3}
    assert state["seq"] == len(log.events)


def test_retry_makes_attempt_and_retrying_segments() -> None:
    log = Log().start()
    log.add(1, "step.started", "fetch#1", 1, input={"args": [], "kwargs": {}})
    err = {"type": "IOError", "message": "down", "traceback": "tb"}
    log.add(2, "step.failed", "fetch#1", 1, error=err, retry_at=T0 + 12, final=False)
    waiting = build_state(log.events, T0 + 5)
    row = by_id(waiting)["fetch#1"]
    assert [s["status"] for s in row["segments"]] == ["failed", "retrying"]
    assert row["segments"][1] | {"start": 0} == {
        "attempt": 1,
        "start": 0,
        "end": None,
        "status": "retrying",
        "until": T0 + 12,
        "input": None,
        "output": None,
        "error": None,
        "truncated": False,
    }
    assert row["status"] == "retrying"
    assert waiting["run"]["status"] == "retrying"
    assert row["segments"][0]["error"] == {"type": "IOError", "message": "down", "traceback": "tb"}

    log.add(12, "step.started", "fetch#1", 2, input={"args": [], "kwargs": {}})
    running = build_state(log.events, T0 + 13)
    segs = by_id(running)["fetch#1"]["segments"]
    assert [(s["attempt"], s["status"], s["end"]) for s in segs] == [
        (1, "failed", T0 + 2),
        (1, "retrying", T0 + 12),
        (2, "running", None),
    ]
    assert running["run"]["status"] == "running"

    log.add(14, "step.failed", "fetch#1", 2, error=err, retry_at=None, final=True)
    log.add(14.1, "workflow.failed", error=err)
    failed = build_state(log.events, T0 + 20)
    assert by_id(failed)["fetch#1"]["status"] == "failed"
    assert failed["run"]["status"] == "failed"
    assert failed["run"]["error"]["message"] == "down"
    assert failed["progress"] == {"done": 0, "failed": 1, "total": 1}


def test_sleep_wait_and_markers() -> None:
    log = Log().start()
    log.step(0, "a#1")
    log.add(1, "timer.started", "sleep#1", until=T0 + 1 + 10800)
    sleeping = build_state(log.events, T0 + 7200)
    assert sleeping["run"]["status"] == "sleeping"
    assert by_id(sleeping)["sleep#1"]["segments"][0]["until"] == T0 + 10801
    assert sleeping["gaps"] == [
        {"start": T0 + 1, "end": T0 + 7200, "verb": "slept", "label": "slept 1 h", "open": True}
    ]
    log.add(10801, "timer.fired", "sleep#1")
    log.add(10802, "wait.started", "event:go#1", event="go", timeout_at=None)
    waiting = build_state(log.events, T0 + 10900)
    assert waiting["run"]["status"] == "waiting"
    assert by_id(waiting)["sleep#1"]["status"] == "completed"
    assert by_id(waiting)["event:go#1"]["label"] == "event:go"
    log.add(10950, "event.received", event="go", payload={"<ok>": True})
    log.add(10950, "wait.completed", "event:go#1", event="go", payload={"<ok>": True})
    log.add(10951, "value.recorded", "now#1", value=T0)
    log.add(10952, "wait.started", "event:go#2", event="go", timeout_at=T0 + 10960)
    log.add(10960, "wait.timed_out", "event:go#2", event="go")
    log.add(10961, "workflow.cancel_requested")
    log.add(10962, "workflow.cancelled")
    state = build_state(log.events, T0 + 11000)
    rows = by_id(state)
    assert rows["event:go#1"]["segments"][0]["output"] == '{"<ok>": true}'
    assert rows["event:go#2"]["label"] == "event:go #2"
    assert rows["event:go#2"]["status"] == "failed"
    assert rows["event:go#2"]["segments"][0]["error"]["type"] == "EventTimeout"
    assert "now#1" not in rows
    assert state["markers"] == [
        {"ts": T0 + 10950, "kind": "event", "label": "go", "text": '{"<ok>": true}'},
        {"ts": T0 + 10961, "kind": "cancel", "label": "cancel requested", "text": None},
    ]
    assert state["run"]["status"] == "cancelled"
    assert state["run"]["cancel_requested"] is True
    assert [g["label"] for g in state["gaps"]] == ["slept 3 h", "waited 2 min"]


def test_finishing_closes_open_segments() -> None:
    log = Log().start()
    log.add(1, "step.started", "a#1", 1, input={"args": [], "kwargs": {}})
    log.add(1, "timer.started", "sleep#1", until=T0 + 100)
    log.add(5, "workflow.cancelled")
    rows = by_id(build_state(log.events, T0 + 9))
    assert [(s["status"], s["end"]) for s in rows["a#1"]["segments"]] == [("cancelled", T0 + 5)]
    assert rows["sleep#1"]["status"] == "cancelled"

    log = Log().start()
    log.add(1, "step.started", "a#1", 1, input={"args": [], "kwargs": {}})
    log.add(5, "workflow.failed", error="boom")
    state = build_state(log.events, T0 + 9)
    assert by_id(state)["a#1"]["status"] == "failed"
    assert state["run"]["error"] == {"type": "Error", "message": "boom", "traceback": None}


def test_step_cancelled_and_retried_run() -> None:
    log = Log().start()
    log.add(1, "step.started", "a#1", 1, input={"args": [], "kwargs": {}})
    log.add(2, "step.cancelled", "a#1", 1)
    log.add(2, "workflow.cancelled")
    log.add(50, "workflow.retried")
    log.add(51, "step.started", "a#1", 2, input={"args": [], "kwargs": {}})
    state = build_state(log.events, T0 + 52)
    assert state["run"]["status"] == "running"
    assert state["run"]["end"] is None
    wf = by_id(state)["workflow"]
    assert [(s["status"], s["end"]) for s in wf["segments"]] == [
        ("cancelled", T0 + 2),
        ("running", None),
    ]
    assert [s["status"] for s in by_id(state)["a#1"]["segments"]] == ["cancelled", "running"]


def test_unsorted_events_are_ordered_by_seq() -> None:
    log = Log().start().step(1, "a#1").step(3, "b#1")
    assert build_state(log.events[::-1], T0 + 9) == build_state(log.events, T0 + 9)


# -- gaps and layout --------------------------------------------------------------------------


def test_short_idle_stretches_are_not_gaps() -> None:
    log = Log().start().step(0, "a#1", took=30).step(70, "b#1", took=30)
    log.add(100, "workflow.completed", result=None)
    assert build_state(log.events, T0 + 100)["gaps"] == []  # 40 s idle is < 60 s


def test_gap_threshold_scales_with_busy_spans() -> None:
    log = Log().start().step(0, "a#1", took=100).step(300, "b#1", took=100)
    log.add(400, "workflow.completed", result=None)
    assert build_state(log.events, T0 + 400)["gaps"] == []  # 200 s idle < 3 x 100 s
    log = Log().start().step(0, "a#1", took=100).step(450, "b#1", took=100)
    log.add(550, "workflow.completed", result=None)
    gaps = build_state(log.events, T0 + 550)["gaps"]
    assert [(g["start"], g["end"], g["label"]) for g in gaps] == [
        (T0 + 100, T0 + 450, "idle 5 min")
    ]


def test_retry_wait_gap_label() -> None:
    log = Log().start()
    log.add(1, "step.started", "a#1", 1, input={"args": [], "kwargs": {}})
    log.add(2, "step.failed", "a#1", 1, error={"type": "E", "message": "m"}, retry_at=T0 + 3602)
    log.add(3602, "step.started", "a#1", 2, input={"args": [], "kwargs": {}})
    log.add(3603, "step.completed", "a#1", 2, result=1)
    log.add(3603, "workflow.completed", result=1)
    gaps = build_state(log.events, T0 + 4000)["gaps"]
    assert [g["label"] for g in gaps] == ["retry wait 1 h"]


def test_layout_compresses_gaps() -> None:
    log, now = big_log(600)
    state = build_state(log.events, now)
    assert [g["label"] for g in state["gaps"]] == ["slept 3 h", "slept 3 h"]
    pieces = layout(state, 1000)
    assert pieces[0]["x0"] == 0 and pieces[-1]["x1"] == 1000
    assert [p["gap"] for p in pieces] == [False, True, False, True, False]
    for a, b in itertools.pairwise(pieces):
        assert a["end"] == b["start"] and a["x1"] == pytest.approx(b["x0"])
    for p in pieces:
        if p["gap"]:
            assert p["x1"] - p["x0"] == pytest.approx(GAP_PX)
    scales = [(p["x1"] - p["x0"]) / (p["end"] - p["start"]) for p in pieces if not p["gap"]]
    assert scales[0] == pytest.approx(scales[1])
    xs = [time_to_x(pieces, state["run"]["start"] + k * 100) for k in range(250)]
    assert xs == sorted(xs)
    assert time_to_x(pieces, 0) == 0 and time_to_x(pieces, 1e12) == 1000


def test_layout_of_a_live_run_reaches_the_given_clock() -> None:
    log = Log().start().step(0, "a#1")
    log.add(2, "timer.started", "sleep#1", until=T0 + 86400)
    state = build_state(log.events, T0 + 3600)
    assert state["gaps"][0]["open"] is True
    pieces = layout(state, 500, now=T0 + 7200)
    assert pieces[-1] == {"start": T0 + 2, "end": T0 + 7200, "x0": pytest.approx(440),
                          "x1": 500.0, "gap": True}  # fmt: skip


# -- deltas -------------------------------------------------------------------------------


def test_deltas_replay_a_run_event_by_event() -> None:
    log, _now = big_log(120)
    prev = build_state([], T0)
    for k in range(1, len(log.events) + 1):
        cur = build_state(log.events[:k], T0 + k)
        delta = json.loads(json.dumps(diff_state(prev, cur)))
        assert apply_delta(prev, delta) == cur
        prev = cur


def test_a_delta_is_small_and_names_what_changed() -> None:
    log, now = big_log(1000)
    events = log.events[:-1]
    events.append(
        {**events[-1], "seq": events[-1]["seq"] + 1, "type": "step.started", "step": "last#1",
         "attempt": 1, "data": {"input": {"args": [], "kwargs": {}}}}
    )  # fmt: skip
    old = build_state(events[:-1], now)
    new = build_state(events, now + 1)
    delta = diff_state(old, new)
    assert set(delta["rows"]) == {"last#1"} and delta["added"] == ["last#1"]
    assert len(json.dumps(delta)) < 5_000
    assert diff_state(new, new) == {"base": new["seq"], "seq": new["seq"], "rows": {}}


def test_diff_handles_reordered_rows_and_rewritten_markers() -> None:
    old = {"seq": 1, "rows": [{"id": "a"}, {"id": "b"}], "markers": [{"ts": 1}, {"ts": 2}]}
    new = {"seq": 2, "rows": [{"id": "b"}, {"id": "a"}], "markers": [{"ts": 1}, {"ts": 3}]}
    delta = diff_state(old, new)
    assert delta["order"] == ["b", "a"] and delta["markers_from"] == 1
    assert apply_delta(old, delta) == new


# -- details ----------------------------------------------------------------------------------


def test_details_give_full_values() -> None:
    log = Log().start()
    big = {"text": "q" * 5000}
    err = {"type": "E", "message": "m", "traceback": "T" * 9000}
    log.add(1, "step.started", "a#1", 1, input={"args": ["x" * 3000], "kwargs": {}})
    log.add(2, "step.failed", "a#1", 1, error=err, retry_at=T0 + 3, final=False)
    log.add(3, "step.started", "a#1", 2, input={"args": ["x" * 3000], "kwargs": {}})
    log.add(4, "step.completed", "a#1", 2, result=big)
    state = build_state(log.events, T0 + 5, budget=1000)
    assert all(s["truncated"] for s in by_id(state)["a#1"]["segments"] if s["status"] != "retrying")

    first = details_for(log.events, "a#1", 1, req="v1:1")
    assert first["req"] == "v1:1" and first["found"] is True
    assert first["error"] == err and first["output"] is None
    assert first["extra"] == {"retry_at": T0 + 3, "final": False}
    second = details_for(log.events, "a#1", 2)
    assert json.loads(second["output"]) == big
    assert second["input"] == '"' + "x" * 3000 + '"'
    assert second["error"] is None and second["truncated"] is False
    wf = details_for(log.events, "workflow", None)
    assert wf["input"] == "1" and wf["extra"]["workflow"] == "wf"
    assert details_for(log.events, "nope#1", 1)["found"] is False
    assert details_for(log.events, "a#1", 2, max_chars=100)["truncated"] is True


# -- size and speed ------------------------------------------------------------------------------


def test_thousand_steps_build_fast() -> None:
    log, now = big_log(1000)
    best = min(_timed(lambda: build_state(log.events, now)) for _ in range(3))
    state = build_state(log.events, now)
    size = len(json.dumps(state))
    print(f"1,000 steps ({len(log.events)} events): build {best * 1000:.1f} ms, {size} bytes")
    assert best < 0.1
    assert size < 1_000_000
    assert state["progress"] == {"done": 1000, "failed": 0, "total": 1000}
    assert len(state["gaps"]) == 3


@pytest.mark.parametrize(
    "out",
    [
        '"quoted"\n\\' * 2000,
        {"rows": [{"a": '"<>&"', "b": "ünï"} for _ in range(500)]},
        list(range(10_000)),
    ],
)
def test_thousand_steps_with_nasty_outputs_stay_under_a_megabyte(out: Any) -> None:
    log, now = big_log(1000, out=out)
    state = build_state(log.events, now)
    assert len(json.dumps(state).encode()) < 1_000_000


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- the JS front-end agrees ------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("node") is None or not (EXTENSION / "timeline.js").exists(),
    reason="needs node and extension/timeline.js",
)
def test_js_layout_and_apply_delta_match_python(tmp_path: Path) -> None:
    log, _now = big_log(650)
    cases = []
    for k in (5, 400, 1500, len(log.events)):
        state = build_state(log.events[:k], T0 + k * 10)
        cases.append({"state": state, "width": 777})
    live = Log().start().step(0, "a#1")
    live.add(2, "timer.started", "sleep#1", until=T0 + 86400)
    live_state = build_state(live.events, T0 + 3600)
    old = build_state(log.events[:400], T0 + 4000)
    new = build_state(log.events[:420], T0 + 4200)
    payload = {
        "cases": cases,
        "live": {"state": live_state, "width": 500, "now": T0 + 7200},
        "delta": {"old": old, "delta": diff_state(old, new)},
    }
    (tmp_path / "in.json").write_text(json.dumps(payload))
    script = (
        "import fs from 'node:fs';"
        f"import {{ layout, applyDelta }} from {json.dumps((EXTENSION / 'timeline.js').as_uri())};"
        "const p = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));"
        "const out = {layouts: p.cases.map((c) => layout(c.state, c.width)),"
        " live: layout(p.live.state, p.live.width, p.live.now),"
        " applied: applyDelta(p.delta.old, p.delta.delta)};"
        "process.stdout.write(JSON.stringify(out));"
    )
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script, str(tmp_path / "in.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"node exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
    out = json.loads(proc.stdout)
    for case, js in zip(cases, out["layouts"], strict=True):
        assert _close(js, layout(case["state"], case["width"]))
    assert _close(out["live"], layout(live_state, 500, now=T0 + 7200))
    assert out["applied"] == new


def _close(js: list[dict[str, Any]], py: list[dict[str, Any]]) -> bool:
    assert len(js) == len(py)
    for a, b in zip(js, py, strict=True):
        assert a["gap"] == b["gap"]
        for key in ("start", "end", "x0", "x1"):
            assert a[key] == pytest.approx(b[key], abs=1e-6)
    return True


def test_child_workflows_get_rows_that_link_to_their_runs() -> None:
    log = Log().start().step(1, "fetch#1")
    log.add(3, "child.started", "report#1", run_id="r1/report#1")
    log.add(4, "child.started", "report#2", run_id="r1/report#2")
    log.add(9, "child.completed", "report#1", result={"pages": 3})
    log.add(10, "child.failed", "report#2",
            error={"type": "ValueError", "message": "no data", "traceback": "tb"}, final=True)
    state = build_state(log.events, T0 + 11)
    children = [r for r in state["rows"] if r["kind"] == "child"]
    assert [(r["label"], r["run_id"], r["status"]) for r in children] == [
        ("report", "r1/report#1", "completed"),
        ("report #2", "r1/report#2", "failed")]
    assert children[0]["segments"][0]["output"] == '{"pages": 3}'
    assert children[1]["segments"][0]["error"]["message"] == "no data"
    assert state["progress"] == {"done": 2, "failed": 1, "total": 3}
    details = details_for(log.events, "report#1")
    assert details["extra"]["run_id"] == "r1/report#1"
    assert '"pages": 3' in details["output"]
