"""Steering runs from outside: cancel with a reason, terminate."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_data import build_state

ran: list[str] = []
release = threading.Event()


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()
    release.clear()


def _wait_status(handle: pw.SyncRunHandle, status: str, timeout: float = 5) -> None:
    deadline = time.time() + timeout
    while handle.status() != status:
        assert time.time() < deadline, f"status stayed {handle.status()}, wanted {status}"
        time.sleep(0.002)


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
    _wait_status(handle, "waiting")
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
    _wait_status(handle, "waiting")
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
    _wait_status(handle, "running")
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
    _wait_status(handle, "waiting")
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
    _wait_status(handle, "waiting")
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
    _wait_status(handle, "waiting")
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
    _wait_status(handle, "running")
    handle.terminate("enough")
    state = build_state(handle.events(), time.time())
    assert state["run"]["status"] == "terminated"
    rows = {r["id"]: r for r in state["rows"]}
    assert rows["workflow"]["segments"][-1]["status"] == "terminated"
    assert rows["ctl_hangs#1"]["segments"][-1]["status"] == "cancelled"
