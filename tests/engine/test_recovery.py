"""Recovery: a new engine on the same store resumes unfinished runs by replaying them."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.definitions import registry

executed: list[str] = []


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()


@pw.step
async def work(i: int) -> int:
    executed.append(f"work{i}")
    return i


def _restart(store: Path) -> list[pw.SyncRunHandle]:
    """Close the engine as a kernel restart would, then open the store again."""
    pw.shutdown()
    pw.configure(store=str(store))
    return pw.SyncClient().recover()



@pw.workflow
async def two_then_wait() -> int:
    a = await work(1)
    b = await work(2)
    payload = await pw.wait_for_event("go")
    return a + b + await work(payload)


def test_completed_steps_are_not_rerun(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(two_then_wait)
    wait_status(handle, "waiting")
    [resumed] = _restart(store)
    assert resumed.run_id == handle.run_id
    assert resumed.status() == "waiting"
    resumed.send_event("go", 3)
    assert resumed.result(timeout=5) == 6
    assert executed == ["work1", "work2", "work3"]


@pytest.mark.parametrize("collecting", [True, False])
def test_recovery_leaves_the_garbage_collector_as_it_found_it(
        store: Path, client: pw.SyncClient, collecting: bool) -> None:
    # recovery pauses automatic collection while it rebuilds runs (see engine/collector.py)
    handle = client.start(two_then_wait)
    wait_status(handle, "waiting")
    pw.shutdown()
    if not collecting:
        gc.disable()
    try:
        [resumed] = _restart(store)
        assert resumed.status() == "waiting" and gc.isenabled() is collecting
    finally:
        gc.enable()


@pw.workflow
async def long_sleep() -> str:
    await work(1)
    await pw.sleep("0.3s")
    return "woke"


def test_timers_keep_their_original_deadline(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(long_sleep)
    wait_status(handle, "sleeping")
    [(until,)] = pw.sql("SELECT epoch(fires_at) FROM timers WHERE run_id = ?",
                        [handle.run_id]).fetchall()
    [resumed] = _restart(store)
    assert resumed.result(timeout=5) == "woke"
    [fired] = [e["ts"] for e in resumed.events() if e["type"] == "timer.fired"]
    assert fired >= until - 0.01
    assert fired - until < 0.5
    assert executed == ["work1"]


def test_timers_past_their_deadline_fire_at_once(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(long_sleep)
    wait_status(handle, "sleeping")
    pw.shutdown()
    time.sleep(0.35)  # the deadline passes while no engine runs
    pw.configure(store=str(store))
    started = time.time()
    assert pw.SyncClient().get_run(handle.run_id).result(timeout=5) == "woke"
    assert time.time() - started < 0.2


def test_run_waits_for_its_definition(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(two_then_wait)
    wait_status(handle, "waiting")
    pw.shutdown()
    saved = registry.workflows.pop("two_then_wait")
    try:
        pw.configure(store=str(store))
        [resumed] = pw.SyncClient().recover()
        assert resumed.status() == "waiting_for_definition"
        registry.add(saved)  # what re-running the defining cell does
        wait_status(resumed, "waiting")
        resumed.send_event("go", 0)
        assert resumed.result(timeout=5) == 3
    finally:
        registry.workflows["two_then_wait"] = saved
    assert executed == ["work1", "work2", "work0"]


def test_changed_code_fails_with_non_determinism_error(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    handle = client.start(two_then_wait)
    wait_status(handle, "waiting")
    pw.shutdown()

    @pw.workflow(name="two_then_wait")
    async def edited() -> int:
        a = await work(1)
        b = await pw.side_effect(lambda: 2)  # was: await work(2)
        return a + b

    pw.configure(store=str(store))
    [resumed] = pw.SyncClient().recover()
    with pytest.raises(pw.WorkflowFailed) as info:
        resumed.result(timeout=5)
    error = info.value.__cause__
    assert isinstance(error, pw.NonDeterminismError)
    assert error.expected == "step work#2"
    assert error.actual == "value side_effect#1"
    assert "expected: step work#2 at position 2" in str(error)
    assert "actual:   value side_effect#1 at position 2" in str(error)
    assert executed == ["work1", "work2"]


@pw.workflow
async def gathered() -> list[int]:
    import asyncio

    values = await asyncio.gather(*(work(i) for i in range(5)))
    await pw.wait_for_event("go")
    return list(values)


def test_gathered_steps_replay_whatever_their_completion_order(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(gathered)
    wait_status(handle, "waiting")
    [resumed] = _restart(store)
    resumed.send_event("go")
    assert resumed.result(timeout=5) == [0, 1, 2, 3, 4]
    assert sorted(executed) == [f"work{i}" for i in range(5)]


@pw.workflow
async def cancellable() -> None:
    await work(1)
    await pw.wait_for_event("never")


def test_cancel_records_cancelled_and_survives_restart(store: Path,
                                                       client: pw.SyncClient) -> None:
    handle = client.start(cancellable)
    wait_status(handle, "waiting")
    handle.cancel()
    with pytest.raises(pw.WorkflowCancelled):
        handle.result(timeout=5)
    assert [e["type"] for e in handle.events()][-2:] == [
        "workflow.cancel_requested", "workflow.cancelled"]
    assert _restart(store) == []
    assert pw.get_run(handle.run_id).status() == "cancelled"
