"""Dormant runs: a run asleep on a distant timer leaves memory and is rebuilt by replay."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.engine.dormancy import DORMANT_AFTER
from pyworkflow_nb.runtime import runtime

CALLS: list[Any] = []
LOADED_MACHINE = 30  # seconds a wait may take on a busy 2-core machine (it fails past that)


@pw.step
def before_nap(x: int) -> int:
    CALLS.append(x)
    return x + 1


@pw.workflow
async def naps(x: int, nap: str = "2h") -> int:
    y = await before_nap(x)
    await pw.sleep(nap)
    return y * 10


def _dormant(run_id: str) -> bool:
    engine = runtime.ensure()
    return engine.on_loop(lambda: run_id in engine.dormancy.runs and run_id not in engine.runs)


def _wait_dormant(handle: pw.SyncRunHandle) -> None:
    deadline = time.monotonic() + LOADED_MACHINE
    while not _dormant(handle.run_id):
        assert time.monotonic() < deadline, "the run never went dormant"
        time.sleep(0.002)


def _types(handle: pw.SyncRunHandle) -> list[str]:
    return [e["type"] for e in handle.events()]


def test_a_long_sleeper_leaves_memory_and_wakes_when_its_timer_fires(
        any_vclient: pw.SyncClient) -> None:
    CALLS.clear()
    handle = any_vclient.start(naps, 1)
    _wait_dormant(handle)
    assert handle.status() == "sleeping"
    assert pw.metrics().value("runs_live", status="sleeping") == 1
    any_vclient.skip("2h")
    assert handle.result(timeout=LOADED_MACHINE) == 20
    assert CALLS == [1], "the step before the sleep ran again when the run woke"
    assert not _dormant(handle.run_id)
    types = _types(handle)
    assert types.count("timer.fired") == 1 and "timer.cancelled" not in types
    assert pw.Replayer([naps]).replay(handle).ok


def test_a_sleeper_due_soon_stays_in_memory(any_vclient: pw.SyncClient) -> None:
    nap = f"{int(DORMANT_AFTER) - 1}s"
    handle = any_vclient.start(naps, 2, nap)
    wait_status(handle, "sleeping")
    engine = runtime.ensure()
    engine.on_loop(lambda: None)  # the look at it, queued behind its sleep, has happened
    assert not _dormant(handle.run_id)
    any_vclient.skip(nap)
    assert handle.result(timeout=LOADED_MACHINE) == 30


@pytest.mark.parametrize("action", ["cancel", "terminate"])
def test_a_dormant_run_is_rebuilt_to_be_stopped(any_vclient: pw.SyncClient, action: str) -> None:
    handle = any_vclient.start(naps, 3)
    _wait_dormant(handle)
    getattr(handle, action)("not needed")
    error = pw.WorkflowCancelled if action == "cancel" else pw.WorkflowTerminated
    with pytest.raises(error):
        handle.result(timeout=LOADED_MACHINE)
    assert not _dormant(handle.run_id)


def test_a_caller_waiting_for_the_result_gets_it_across_dormancy(
        any_vclient: pw.SyncClient) -> None:
    handle = any_vclient.start(naps, 4)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(handle.result(timeout=LOADED_MACHINE)))
    waiter.start()
    _wait_dormant(handle)
    any_vclient.skip("2h")
    waiter.join(LOADED_MACHINE)
    assert got == [50]


def test_dormant_runs_come_back_after_a_restart(any_vstore: str) -> None:
    handle = pw.SyncClient().start(naps, 5)
    _wait_dormant(handle)
    pw.shutdown()
    client = pw.SyncClient()
    client.recover()
    client.skip("2h")
    assert client.get_run(handle.run_id).result(timeout=LOADED_MACHINE) == 60


def test_recover_lists_the_runs_it_resumed_also_once_they_went_dormant(
        any_vstore: str) -> None:
    handles = [pw.SyncClient().start(naps, i) for i in range(3)]
    for handle in handles:
        _wait_dormant(handle)
    pw.shutdown()
    client = pw.SyncClient()
    client.recover()  # the engine resumed them on open: this waits for that
    for handle in handles:
        _wait_dormant(handle)  # asleep a day away: out of memory again
    resumed = client.recover()
    assert sorted(h.run_id for h in resumed) == sorted(h.run_id for h in handles)


CLEANUPS: list[str] = []


@pw.workflow
async def naps_guarded() -> str:
    try:
        await pw.sleep("2h")
    finally:
        CLEANUPS.append("cleaned")
    return "woke"


def test_a_body_sleeping_inside_try_stays_in_memory_so_its_cleanup_runs_once(
        any_vclient: pw.SyncClient) -> None:
    CLEANUPS.clear()
    handle = any_vclient.start(naps_guarded)
    wait_status(handle, "sleeping")
    runtime.ensure().on_loop(lambda: None)
    assert not _dormant(handle.run_id), "dropping it would run its finally block for nothing"
    any_vclient.skip("2h")
    assert handle.result(timeout=LOADED_MACHINE) == "woke"
    assert CLEANUPS == ["cleaned"]


def test_many_dormant_runs_whose_timers_fire_together_all_wake(any_vclient: pw.SyncClient) -> None:
    CALLS.clear()
    handles = [any_vclient.start(naps, i) for i in range(40)]
    for handle in handles:
        _wait_dormant(handle)
    any_vclient.skip("2h")
    assert [h.result(timeout=LOADED_MACHINE) for h in handles] == [(i + 1) * 10 for i in range(40)]
    assert sorted(CALLS) == list(range(40)), "a step before the sleep ran again"


@pw.workflow
async def naps_then_waits() -> str:
    await pw.sleep("2h")
    return str(await pw.wait_for_event("go"))


def test_an_event_sent_to_a_dormant_run_waits_for_it_there(any_vclient: pw.SyncClient) -> None:
    handle = any_vclient.start(naps_then_waits)
    _wait_dormant(handle)
    handle.send_event("go", "early")
    any_vclient.skip("2h")
    assert handle.result(timeout=LOADED_MACHINE) == "early"


def test_a_dormant_run_restarts_from_scratch(any_vclient: pw.SyncClient) -> None:
    CALLS.clear()
    handle = any_vclient.start(naps, 6)
    _wait_dormant(handle)
    engine = runtime.ensure()
    old = engine.on_loop(lambda: engine.dormancy.runs[handle.run_id])
    handle.restart("again")
    # the new attempt may already sleep dormant in turn; the old one must be gone
    assert engine.on_loop(lambda: engine.dormancy.runs.get(handle.run_id)) is not old, (
        "the old attempt is still dormant beside the new one")
    any_vclient.skip("2h")
    assert handle.result(timeout=LOADED_MACHINE) == 70
    assert CALLS == [6, 6], "the restarted attempt runs its step anew"
    assert handle.row().attempt_of is None
