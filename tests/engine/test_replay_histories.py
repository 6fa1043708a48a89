"""Replay from recorded JSON histories (histories/, written by record_histories.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from replay_workflows import (
    HistCloudflare,
    HistGenerator,
    executed,
    hist_a,
    hist_approval,
    hist_b,
    hist_b2,
    hist_charge,
    hist_child,
    hist_child_retry,
    hist_dormant,
    hist_gather,
    hist_pipeline,
    hist_shielded,
)

import pyworkflow_nb as pw
from pyworkflow_nb.compat import cloudflare
from pyworkflow_nb.compat import pyworkflow as pwe
from pyworkflow_nb.compat.durable_workflow import workflow as dw_workflow
from pyworkflow_nb.history import vocabulary as ev
from pyworkflow_nb.history.files import read_history_file
from pyworkflow_nb.store import Batch, DuckDBStore, RunRow

HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()


def _event_count() -> int:
    return pw.sql("SELECT count(*) FROM events").fetchall()[0][0]


def test_a_complete_history_replays_ok_and_touches_nothing(store: Path) -> None:
    verdict = pw.Replayer([hist_pipeline]).replay(HISTORIES / "pipeline_completed.json")
    assert verdict.ok, verdict.detail
    assert verdict.detail == "matches its history and ends completed"
    assert (verdict.run_id, verdict.workflow) == ("pipeline-1", "hist_pipeline")
    assert executed == []  # no step ran
    assert _event_count() == 0  # nothing written


def test_an_unfinished_history_replays_up_to_where_it_would_go_live(store: Path) -> None:
    verdict = pw.Replayer([hist_gather]).replay(str(HISTORIES / "gather_waiting.json"))
    assert verdict.ok
    assert verdict.detail == "matches its history; live it would go on with: wait event:go#1"


def test_a_history_that_ends_before_the_first_step_leaves_no_work_behind(store: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:  # the step the body starts past the
        warnings.simplefilter("always")  # end is noted, not left as a never-awaited coroutine
        verdict = pw.Replayer([hist_pipeline]).replay(HISTORIES / "pipeline_started.json")
        gc.collect()
    assert verdict.ok, verdict.detail
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert executed == []


@pytest.mark.parametrize(("history", "workflow", "first"), [
    ("pipeline_started", hist_pipeline, "step hist_flaky#1"),
    ("shielded_started", hist_shielded, "timer sleep#1"),
    ("approval_started", hist_approval, "wait event:approve#1"),
])
def test_a_history_cut_before_the_first_command_names_that_command(
        store: Path, history: str, workflow: Any, first: str) -> None:
    # the first activation issues it with nothing to match: offline it is listed, not started
    verdict = pw.Replayer([workflow]).replay(HISTORIES / f"{history}.json")
    assert verdict.ok, verdict.detail
    assert verdict.detail == f"matches its history; live it would go on with: {first}"
    assert executed == [] and _event_count() == 0


def test_a_run_that_waited_first_replays_to_its_result(store: Path) -> None:
    verdict = pw.Replayer([hist_approval]).replay(HISTORIES / "approval_completed.json")
    assert verdict.ok and verdict.detail == "matches its history and ends completed"


def test_an_edited_workflow_fails_with_the_exact_diff(store: Path,
                                                     restore_definitions: None) -> None:
    @pw.workflow(name="hist_gather")
    async def edited() -> list[int]:
        async def a() -> int:
            first = await hist_a(1)  # was: asyncio.sleep(0.3) first
            await asyncio.sleep(0.3)
            return first

        async def b() -> int:
            await hist_b(1)
            return await hist_b2(await pw.wait_for_event("go"))

        return list(await asyncio.gather(a(), b()))

    verdict = pw.Replayer([edited]).replay(HISTORIES / "gather_completed.json")
    assert not verdict.ok and verdict.error is not None
    assert (verdict.error.expected, verdict.error.actual, verdict.error.position) == (
        "timer sleep#1", "step hist_a#1", 1)
    assert "expected: timer sleep#1 at position 1" in verdict.detail
    assert "actual:   step hist_a#1 at position 1 (" in verdict.detail
    assert "test_replay_histories.py, line" in verdict.detail
    assert executed == []


def test_another_result_is_a_divergence(store: Path, restore_definitions: None) -> None:
    @pw.workflow(name="hist_gather")
    async def returns_more() -> list[int]:
        async def a() -> int:
            await asyncio.sleep(0.3)
            return await hist_a(1)

        async def b() -> int:
            await hist_b(1)
            return await hist_b2(await pw.wait_for_event("go"))

        return [*await asyncio.gather(a(), b()), 99]

    verdict = pw.Replayer([returns_more]).replay(HISTORIES / "gather_completed.json")
    assert not verdict.ok
    assert verdict.detail == ("the code returns another result than the recorded run: "
                              "[1,20,99] instead of [1, 20]")


def _load_into(path: Path, history: Path) -> str:
    """Write a recorded history into a store as the run it was: the real recovery path."""
    rows = read_history_file(history)
    started = ev.parse(rows[0][6])
    run_id, ts = rows[0][0], rows[0][2]
    row = RunRow(run_id, started["workflow"], started["version"], ev.WAITING,
                 json.dumps(started["input"]), created_at=ts, started_at=ts, updated_at=ts)
    store = DuckDBStore(path)
    store.commit(Batch(events=rows, new_runs={run_id: row.snapshot()}))
    store.close()
    return run_id


def test_a_recorded_history_recovers_for_real(tmp_path: Path, store: Path) -> None:
    pw.shutdown()
    run_id = _load_into(tmp_path / "recorded.duckdb", HISTORIES / "gather_waiting.json")
    pw.configure(store=str(tmp_path / "recorded.duckdb"))
    [resumed] = pw.SyncClient().recover()
    assert resumed.run_id == run_id and resumed.status() == "waiting"
    resumed.send_event("go", 2)
    assert resumed.result(timeout=5) == [1, 20]
    assert executed == ["b2_2"]  # the recorded steps came from the history


@pw.workflow
async def hist_waiter(n: int) -> int:
    return n + await pw.wait_for_event("go")


def test_replay_many_gives_one_verdict_per_unfinished_run(
        client: pw.SyncClient, restore_definitions: None) -> None:
    handles = [client.start(hist_waiter, i) for i in range(3)]
    deadline = time.time() + 5
    while any(h.status() != "waiting" for h in handles):
        assert time.time() < deadline
        time.sleep(0.005)
    verdicts = pw.Replayer([hist_waiter]).replay_many()
    assert sorted(v.run_id for v in verdicts) == sorted(h.run_id for h in handles)
    assert all(verdicts)

    @pw.workflow(name="hist_waiter")
    async def edited(n: int) -> int:
        await pw.sleep("1s")
        return n + await pw.wait_for_event("go")

    assert not any(pw.Replayer([edited]).replay_many(handles))


def test_an_exported_history_reads_back_as_the_run_events(client: pw.SyncClient,
                                                          tmp_path: Path) -> None:
    handle = client.start(hist_waiter, 1)
    handle.send_event("go", 2)
    assert handle.result(timeout=5) == 3
    path = handle.export_history(tmp_path / "sub" / "run.json")
    assert pw.Replayer([hist_waiter]).replay(path).ok
    assert pw.Replayer([hist_waiter]).replay(handle.events()).ok
    body = json.loads(path.read_text())
    assert body["format"] == "pyworkflow_nb.history" and body["workflow"] == "hist_waiter"
    assert [e["type"] for e in body["events"]] == [e["type"] for e in handle.events()]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no history file"),
    ("not json", "is not a readable history file"),
    ('{"events": []}', 'is not a pyworkflow_nb history file'),
    ('{"format": "pyworkflow_nb.history", "version": 9, "events": []}', "version 9"),
    ('{"format": "pyworkflow_nb.history", "version": 1, "events": []}', "holds no events"),
    ('{"format": "pyworkflow_nb.history", "version": 1, "events": [{"seq": 1}]}',
     "event 0 of"),
])
def test_bad_history_files_get_clear_errors(store: Path, tmp_path: Path, content: str | None,
                                            message: str) -> None:
    path = tmp_path / "h.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(pw.InvalidInput, match=message):
        pw.Replayer([hist_gather]).replay(path)


def test_a_history_of_another_workflow_is_refused_by_name(store: Path) -> None:
    with pytest.raises(pw.InvalidInput, match="workflow 'hist_pipeline', which this Replayer "
                                              "was not given"):
        pw.Replayer([hist_gather, hist_child]).replay(HISTORIES / "pipeline_completed.json")
    with pytest.raises(pw.InvalidInput, match=r"takes @pw\.workflow functions"):
        pw.Replayer([lambda: None])  # type: ignore[list-item]


def test_a_history_with_a_retried_child_replays_without_running_anything(store: Path) -> None:
    verdict = pw.Replayer([hist_child_retry]).replay(HISTORIES / "child_retried.json")
    assert verdict.ok, verdict.detail
    assert verdict.detail == "matches its history and ends completed"
    assert executed == []
    events = read_history_file(HISTORIES / "child_retried.json")
    assert [(e[3], e[5]) for e in events if e[3].startswith("child.")] == [
        ("child.started", 1), ("child.failed", 1), ("child.started", 2),
        ("child.completed", 2)]


def test_a_cloudflare_history_replays_with_its_named_sleep_and_wait(store: Path) -> None:
    verdict = pw.Replayer([HistCloudflare]).replay(HISTORIES / "cloudflare_completed.json")
    assert verdict.ok, verdict.detail
    assert executed == []  # the DAG's steps came from the history


def test_a_renamed_cloudflare_sleep_is_a_divergence(store: Path,
                                                   restore_definitions: None) -> None:
    class HistCloudflare(cloudflare.WorkflowEntrypoint):  # the class, edited in its cell
        async def run(self, event: Any, step: Any) -> object:
            @step.do()
            async def fetch_a() -> int:
                return 1

            @step.do()
            async def fetch_b() -> int:
                return 2

            @step.do(concurrent=True)
            async def total(fetch_a: int, fetch_b: int) -> int:
                return fetch_a + fetch_b

            await total()
            await step.sleep("wait one day", "1 day")
            return None

    verdict = pw.Replayer([HistCloudflare]).replay(HISTORIES / "cloudflare_completed.json")
    assert not verdict.ok and verdict.error is not None
    assert (verdict.error.expected, verdict.error.actual) == (
        "timer wait a day#1", "timer wait one day#1")


def test_a_generator_history_replays_its_activity_timer_side_effect_and_signal(
        store: Path) -> None:
    verdict = dw_workflow.Replayer(workflows=[HistGenerator]).replay(
        str(HISTORIES / "generator_completed.json"))
    assert verdict.ok, verdict.detail
    assert verdict.detail == "matches its history and ends completed"
    assert executed == []
    events = read_history_file(HISTORIES / "generator_completed.json")
    assert [e[4] for e in events if e[4]] == [
        "task_queue#1", "task_queue#2", "hist-greet#1", "hist-greet#1", "sleep#1", "sleep#1",
        "side_effect#1"], "the run's and the activity's task queue checks come first"


def test_a_generator_that_waited_for_its_worker_replays_the_wait(store: Path) -> None:
    verdict = dw_workflow.Replayer(workflows=[HistGenerator]).replay(
        str(HISTORIES / "generator_queued.json"))
    assert verdict.ok, verdict.detail
    assert executed == []
    events = read_history_file(HISTORIES / "generator_queued.json")
    assert [(e[3], e[4]) for e in events[1:5]] == [
        (ev.VALUE_RECORDED, "task_queue#1"), (ev.WAIT_STARTED, "worker for hist-late#1"),
        (ev.EVENT_RECEIVED, None), (ev.WAIT_COMPLETED, "worker for hist-late#1")]


def test_a_cancel_held_off_by_a_shield_replays_where_it_landed(store: Path,
                                                               restore_definitions: None) -> None:
    history = HISTORIES / "shielded_cancelled.json"
    verdict = pw.Replayer([hist_shielded]).replay(history)
    assert verdict.ok, verdict.detail
    assert verdict.detail == "matches its history and ends cancelled"
    assert executed == []
    kinds = [(e[3], e[4]) for e in read_history_file(history)]
    assert kinds.index((ev.WORKFLOW_CANCEL_REQUESTED, None)) < kinds.index(
        (ev.STEP_COMPLETED, "hist-charge#1")), "the cancel came inside the shielded block"

    @pwe.workflow(name="hist-shielded")
    async def unshielded() -> str:  # the same calls, no shield: the cancel lands in the sleep
        await pwe.sleep("1h")
        await hist_charge()
        await pwe.sleep("1d")
        return "shipped"

    assert not pw.Replayer([unshielded]).replay(history).ok


def test_a_run_that_slept_out_of_memory_left_no_trace_of_it(store: Path) -> None:
    """Going dormant and being rebuilt records nothing: the history is a plain sleep's."""
    history = HISTORIES / "dormant_woken.json"
    verdict = pw.Replayer([hist_dormant]).replay(history)
    assert verdict.ok, verdict.detail
    assert executed == []
    events = read_history_file(history)
    assert [e[1] for e in events] == list(range(1, len(events) + 1))
    assert [(e[3], e[4]) for e in events[3:5]] == [
        (ev.TIMER_STARTED, "sleep#1"), (ev.TIMER_FIRED, "sleep#1")]
    assert ev.TIMER_CANCELLED not in [e[3] for e in events]
