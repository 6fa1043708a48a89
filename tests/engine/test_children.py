"""Child runs: pw.start_child handles, and what happens to a child when its parent ends first."""

from __future__ import annotations

from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw

cleaned: list[str] = []


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    cleaned.clear()



@pw.step
def kid_cleanup(name: str) -> None:
    cleaned.append(name)


@pw.workflow
async def kid_waits(name: str) -> str:
    try:
        return await pw.wait_for_event("go")
    finally:
        await kid_cleanup(name)


@pw.workflow
async def kid_parent_awaits() -> str:
    return await kid_waits("awaited")


@pw.workflow
async def kid_parent_leaves(policy: str) -> str:
    child = pw.start_child(kid_waits, "left", parent_close=policy)
    return child.run_id


@pw.workflow
async def kid_parent_fails() -> None:
    pw.start_child(kid_waits, "orphan")
    raise ValueError("parent breaks")


@pw.workflow
async def kid_parent_handle() -> list[object]:
    child = pw.start_child(kid_waits, "h")
    return [child.run_id, await child, repr(child)]


def test_a_cancelled_parent_terminates_the_child_it_awaits(client: pw.SyncClient) -> None:
    parent = client.start(kid_parent_awaits)
    child = client.get_run(f"{parent.run_id}/kid_waits#1")
    wait_status(child, "waiting")
    parent.cancel("not needed")
    with pytest.raises(pw.WorkflowCancelled):
        parent.result(timeout=5)
    with pytest.raises(pw.WorkflowTerminated) as ended:
        child.result(timeout=5)
    assert ended.value.reason == f"its parent run {parent.run_id!r} ended (cancelled)"
    assert cleaned == [], "terminated: the child's cleanup did not run"
    started = [e for e in parent.events() if e["type"] == "child.started"]
    assert started[0]["data"] == {"run_id": child.run_id, "parent_close": "terminate"}


@pytest.mark.parametrize(("policy", "status"), [("terminate", "terminated"),
                                                  ("request_cancel", "cancelled")])
def test_a_finished_parent_applies_its_childs_policy(client: pw.SyncClient, policy: str,
                                                     status: str) -> None:
    parent = client.start(kid_parent_leaves, policy)
    child = client.get_run(parent.result(timeout=5))
    wait_status(child, status)
    assert cleaned == (["left"] if policy == "request_cancel" else [])
    assert parent.events()[-1]["type"] == "workflow.completed", "nothing after the end"


def test_an_abandoned_child_goes_on_after_its_parent(client: pw.SyncClient) -> None:
    parent = client.start(kid_parent_leaves, "abandon")
    child = client.get_run(parent.result(timeout=5))
    wait_status(child, "waiting")
    child.send_event("go", "still here")
    assert child.result(timeout=5) == "still here"
    assert child.row().parent_run_id == parent.run_id


def test_a_failed_or_terminated_parent_leaves_no_orphan(client: pw.SyncClient) -> None:
    failed = client.start(kid_parent_fails)
    with pytest.raises(pw.WorkflowFailed):
        failed.result(timeout=5)
    wait_status(client.get_run(f"{failed.run_id}/kid_waits#1"), "terminated")
    parent = client.start(kid_parent_awaits)
    child = client.get_run(f"{parent.run_id}/kid_waits#1")
    wait_status(child, "waiting")
    parent.terminate("stop all")
    wait_status(child, "terminated")


def test_a_child_handle_is_awaitable_and_names_its_run(client: pw.SyncClient) -> None:
    parent = client.start(kid_parent_handle)
    child = client.get_run(f"{parent.run_id}/kid_waits#1")
    wait_status(child, "waiting")
    child.send_event("go", 5)
    assert parent.result(timeout=5) == [child.run_id, 5, f"<ChildHandle {child.run_id}>"]


def test_a_restarted_parent_still_closes_its_child(store: Path, client: pw.SyncClient) -> None:
    parent = client.start(kid_parent_awaits)
    child = client.get_run(f"{parent.run_id}/kid_waits#1")
    wait_status(child, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    assert parent.run_id in {h.run_id for h in client.recover()}
    wait_status(child, "waiting")
    parent.cancel()
    wait_status(child, "terminated")
    assert [e["type"] for e in parent.events()].count("child.started") == 1


@pw.workflow
async def kid_bad_policy() -> None:
    pw.start_child(kid_waits, "x", parent_close="detach")


@pw.workflow
async def kid_not_a_workflow() -> None:
    pw.start_child(kid_cleanup, "x")  # type: ignore[arg-type]


def test_bad_start_child_calls_fail_the_run_saying_why(client: pw.SyncClient) -> None:
    with pytest.raises(pw.WorkflowFailed) as bad:
        client.run(kid_bad_policy)
    assert "parent_close=...) must be one of 'terminate', 'request_cancel', 'abandon', " \
        "got 'detach'" in str(bad.value.__cause__)
    with pytest.raises(pw.WorkflowFailed) as wrong:
        client.run(kid_not_a_workflow)
    assert "start_child needs a @pw.workflow" in str(wrong.value.__cause__)
    with pytest.raises(pw.WorkflowContextError, match=r"needs a @pw\.workflow function around"):
        pw.start_child(kid_waits, "outside")
