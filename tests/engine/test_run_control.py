"""Steering runs from outside: cancel with a reason, terminate."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_data import build_state

ran: list[str] = []
release = threading.Event()


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()
    release.clear()



def _types(handle: pw.SyncRunHandle) -> list[str]:
    return [e["type"] for e in handle.events()]


@pw.step
def ctl_cleanup() -> None:
    ran.append("cleanup")


@pw.step
async def ctl_hangs() -> None:
    ran.append("hangs")
    await asyncio.Event().wait()


@pw.step
def ctl_blocks() -> str:
    ran.append("blocks")
    release.wait(10)
    ran.append("blocks-returned")
    return "late"


@pw.workflow
async def ctl_waiter() -> str:
    try:
        return await pw.wait_for_event("go")
    finally:
        await ctl_cleanup()  # runs on cancel, never on terminate


@pw.workflow
async def ctl_busy(thread: bool) -> None:
    await (ctl_blocks() if thread else ctl_hangs())


def test_terminate_ends_a_waiting_run_at_once_running_none_of_its_code(
        client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.terminate("wrong customer")
    assert handle.status() == "terminated"
    with pytest.raises(pw.WorkflowTerminated) as ended:
        handle.result(timeout=5)
    assert ended.value.reason == "wrong customer"
    assert str(ended.value).endswith("was terminated: wrong customer")
    assert _types(handle)[-1] == "workflow.terminated"
    assert handle.events()[-1]["data"] == {"reason": "wrong customer"}
    assert ran == [], "the finally block's step never ran"
    assert pw.sql("SELECT status, error FROM runs").fetchall() == [
        ("terminated", '{"type": "terminated", "message": "wrong customer", "step": null}')]


def test_cancel_lets_the_workflow_clean_up_and_keeps_the_reason(client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.cancel(reason="duplicate order")
    with pytest.raises(pw.WorkflowCancelled, match="was cancelled: duplicate order"):
        handle.result(timeout=5)
    assert ran == ["cleanup"]
    cancel = [e for e in handle.events() if e["type"].startswith("workflow.cancel")]
    assert [(e["type"], e["data"]) for e in cancel] == [
        ("workflow.cancel_requested", {"reason": "duplicate order"}),
        ("workflow.cancelled", {"reason": "duplicate order"})]


@pytest.mark.parametrize("thread", [False, True], ids=["async step", "thread step"])
def test_terminate_cancels_running_attempts_and_ignores_late_results(
        client: pw.SyncClient, thread: bool) -> None:
    handle = client.start(ctl_busy, thread)
    wait_status(handle, "running")
    deadline = time.time() + 5
    while not ran:
        assert time.time() < deadline
        time.sleep(0.002)
    handle.terminate()
    release.set()
    with pytest.raises(pw.WorkflowTerminated, match=r"was terminated$"):
        handle.result(timeout=5)
    types = _types(handle)
    assert types[-2:] == ["step.cancelled", "workflow.terminated"], types
    if thread:
        deadline = time.time() + 5
        while "blocks-returned" not in ran:
            assert time.time() < deadline
            time.sleep(0.002)
        pw.SyncClient().recover()  # any late write would be in by now
        assert _types(handle) == types, "the abandoned attempt's result was not recorded"


def test_terminate_refuses_finished_and_unknown_runs_and_bad_reasons(
        client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.send_event("go", "x")
    assert handle.result(timeout=5) == "x"
    with pytest.raises(pw.InvalidInput, match=r"already ended \(completed\)"):
        handle.terminate()
    with pytest.raises(pw.RunNotFound):
        client.get_run("no-such-run")
    other = client.start(ctl_waiter)
    with pytest.raises(pw.InvalidInput, match=r"reason=\.\.\.\) must be a string"):
        other.terminate(42)  # type: ignore[arg-type]
    with pytest.raises(pw.InvalidInput, match=r"reason=\.\.\.\) must be a string"):
        other.cancel(["no"])  # type: ignore[arg-type]
    assert other.status() != "terminated", "a refused call changes nothing"


def test_a_terminated_run_stays_terminated_across_a_restart(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.terminate("stop")
    pw.shutdown()
    pw.configure(store=str(store))
    assert pw.SyncClient().recover() == []
    with pytest.raises(pw.WorkflowTerminated, match="terminated: stop"):
        pw.SyncClient().get_run(handle.run_id).result()


def test_a_run_waiting_for_its_definition_can_be_terminated(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    @pw.workflow(name="ctl_gone")
    async def gone() -> str:
        return await pw.wait_for_event("go")

    handle = client.start(gone)
    wait_status(handle, "waiting")
    pw.shutdown()
    from pyworkflow_nb.definitions import registry
    del registry.workflows["ctl_gone"]
    pw.configure(store=str(store))
    [waiting] = pw.SyncClient().recover()
    assert waiting.status() == "waiting_for_definition"
    waiting.terminate("retired")
    assert waiting.status() == "terminated"


def test_the_timeline_shows_a_terminated_run(client: pw.SyncClient) -> None:
    handle = client.start(ctl_busy, False)
    wait_status(handle, "running")
    handle.terminate("enough")
    state = build_state(handle.events(), time.time())
    assert state["run"]["status"] == "terminated"
    rows = {r["id"]: r for r in state["rows"]}
    assert rows["workflow"]["segments"][-1]["status"] == "terminated"
    assert rows["ctl_hangs#1"]["segments"][-1]["status"] == "cancelled"


# -- pause and resume --------------------------------------------------------------------------



@pw.step
def ctl_work(i: int) -> int:
    ran.append(f"work{i}")
    return i


tries = {"n": 0}


@pw.step(max_retries=1, retry_delay="1m")
def ctl_flaky() -> str:
    tries["n"] += 1
    ran.append(f"flaky{tries['n']}")
    if tries["n"] == 1:
        raise ConnectionError("first try fails")
    return "ok"


@pw.workflow
async def ctl_steps() -> int:
    a = await ctl_work(1)
    b = await pw.wait_for_event("go")
    await pw.sleep("1h")
    return a + b + await ctl_work(2)


@pw.workflow
async def ctl_retrying() -> str:
    return await ctl_flaky()


def test_a_paused_run_starts_nothing_and_gets_what_came_meanwhile_on_resume(
        vclient: pw.SyncClient) -> None:
    handle = vclient.start(ctl_steps)
    vclient.skip("1s")
    assert handle.status() == "waiting"
    handle.pause()
    assert handle.status() == "paused"
    handle.send_event("go", 10)
    vclient.skip("2h")  # the event is recorded, the body does not see it
    assert handle.status() == "paused" and ran == ["work1"]
    handle.resume()
    assert handle.status() == "sleeping", "the sleep starts only now"
    vclient.skip("2h")
    assert handle.result(timeout=5) == 13
    types = _types(handle)
    # the wait ends when the event comes (recorded), the body moves on only at the resume
    assert types.index("workflow.paused") < types.index("wait.completed") < types.index(
        "workflow.resumed") < types.index("timer.started")
    assert pw.Replayer([ctl_steps]).replay(handle).ok, "the paused history replays"


def test_a_pause_holds_a_retry_until_the_resume(vclient: pw.SyncClient) -> None:
    tries["n"] = 0
    handle = vclient.start(ctl_retrying)
    vclient.skip("1s")
    assert ran == ["flaky1"] and handle.status() == "sleeping"  # the retry wait
    handle.pause()
    vclient.skip("10m")
    assert ran == ["flaky1"] and handle.status() == "paused"
    handle.resume()
    vclient.skip("1s")
    assert handle.result(timeout=5) == "ok" and ran == ["flaky1", "flaky2"]


def test_a_paused_run_stays_paused_across_a_restart(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(ctl_steps)
    wait_status(handle, "waiting")
    handle.pause()
    handle.send_event("go", 1)
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    [resumed] = client.recover()
    assert resumed.status() == "paused"
    pw.use_virtual_clock()
    client.skip("2h")
    assert resumed.status() == "paused" and ran == ["work1"]
    resumed.resume()
    client.skip("2h")
    assert resumed.result(timeout=5) == 1 + 1 + 2
    types = _types(resumed)
    assert types.index("workflow.resumed") < types.index("timer.started"), \
        "the replayed body's next command waited for the resume, as it would have live"
    pw.use_real_clock()


def test_cancelling_a_paused_run_lets_its_cleanup_run(client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.pause()
    handle.cancel("not needed")
    with pytest.raises(pw.WorkflowCancelled):
        handle.result(timeout=5)
    assert ran == ["cleanup"]


def test_pause_and_resume_refuse_finished_runs_and_repeat_quietly(
        client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    handle.resume()  # not paused: nothing happens
    handle.pause()
    handle.pause()
    assert _types(handle).count("workflow.paused") == 1
    handle.terminate()
    for action in (handle.pause, handle.resume):
        with pytest.raises(pw.InvalidInput, match=r"already ended \(terminated\)"):
            action()


def test_the_timeline_draws_each_pause_as_a_span(vclient: pw.SyncClient) -> None:
    handle = vclient.start(ctl_steps)
    vclient.skip("1s")
    handle.pause()
    vclient.skip("10m")
    handle.resume()
    handle.send_event("go", 1)
    vclient.skip("2h")
    state = build_state(handle.events(), time.time())
    paused = {r["id"]: r for r in state["rows"]}["paused"]
    assert paused["kind"] == "pause" and paused["label"] == "paused"
    [span] = paused["segments"]
    assert span["end"] - span["start"] == pytest.approx(600, abs=1)
    assert state["progress"]["total"] == 2, "a pause is no step"


def test_a_shutdown_runs_no_cleanup_step_that_would_spoil_the_history(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(ctl_waiter)
    wait_status(handle, "waiting")
    pw.shutdown()  # the body unwinds through its finally block: its step must not be recorded
    pw.configure(store=str(store))
    [resumed] = pw.SyncClient().recover()
    assert resumed.status() == "waiting"
    resumed.send_event("go", "ok")
    assert resumed.result(timeout=5) == "ok"
    assert ran == ["cleanup"], "the cleanup ran once, when the workflow really ended"
