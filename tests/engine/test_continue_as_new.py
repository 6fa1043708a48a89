"""pw.continue_as_new: a run ends by starting the next run of its chain on a fresh history."""

from __future__ import annotations

from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pw.step
def can_poll(i: int) -> int:
    return i


@pw.workflow
async def can_poller(start: int, stop: int, per_run: int) -> int:
    i = start
    while i < stop:
        await can_poll(i)
        i += 1
        if i % per_run == 0 and i < stop:
            pw.continue_as_new(i, stop, per_run)
    return i


def test_a_chain_keeps_each_history_bounded_and_result_follows_it(
        client: pw.SyncClient) -> None:
    first = client.start(can_poller, 0, 25, 10)
    assert first.result(timeout=10) == 25
    chain = client.run_chain(first.run_id)
    assert [h.status() for h in chain] == ["continued", "continued", "completed"]
    assert [len([e for e in h.events() if e["type"] == "step.completed"]) for h in chain] == [
        10, 10, 5], "each run holds only its own part"
    assert [h.row().continued_from for h in chain] == [None, chain[0].run_id, chain[1].run_id]
    assert client.run_chain(chain[1].run_id)[0].run_id == first.run_id, "from any link"
    with pytest.raises(pw.WorkflowContinued) as continued:
        first.result(follow=False)
    assert continued.value.next_run_id == chain[1].run_id
    last = first.events()[-1]
    assert last["type"] == "workflow.continued"
    assert last["data"] == {"run_id": chain[1].run_id, "workflow": "can_poller"}
    rows = pw.sql("SELECT run_id, continued_from FROM runs ORDER BY created_at").fetchall()
    assert [r[1] for r in rows] == [None, chain[0].run_id, chain[1].run_id]


@pw.workflow
async def can_waiter(n: int) -> int:
    got = await pw.wait_for_event("go")
    if n < 2:
        pw.continue_as_new(n + 1)
    return n + got


def test_a_restarted_chain_goes_on_in_its_latest_run(store: Path, client: pw.SyncClient) -> None:
    first = client.start(can_waiter, 0)
    wait_status(first, "waiting")
    first.send_event("go", 0)
    wait_status(first, "continued")
    second = client.run_chain(first.run_id)[-1]
    wait_status(second, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    assert [h.run_id for h in client.recover()] == [second.run_id]
    second.send_event("go", 0)
    wait_status(second, "continued")
    third = client.run_chain(first.run_id)[-1]
    wait_status(third, "waiting")
    third.send_event("go", 40)
    assert first.result(timeout=5) == 42


@pw.workflow
async def can_other(x: str) -> str:
    return f"other {x}"


@pw.workflow
async def can_switch() -> str:
    pw.continue_as_new("y", workflow=can_other)


@pw.workflow
async def can_bad_args() -> None:
    pw.continue_as_new(1, 2, 3, 4)


def test_continue_as_new_another_workflow_and_bad_calls(client: pw.SyncClient) -> None:
    handle = client.start(can_switch)
    assert handle.result(timeout=5) == "other y"
    assert client.run_chain(handle.run_id)[-1].row().workflow == "can_other"
    with pytest.raises(pw.WorkflowFailed) as bad:
        client.run(can_bad_args)
    assert "cannot start workflow 'can_bad_args'" in str(bad.value.__cause__)
    with pytest.raises(pw.WorkflowContextError):
        pw.continue_as_new(1)


def test_the_timeline_links_the_runs_of_a_chain(client: pw.SyncClient) -> None:
    from pyworkflow_nb.notebook.timeline_widget import TimelineWidget

    first = client.start(can_poller, 0, 12, 10)
    assert first.result(timeout=10) == 12
    second = client.run_chain(first.run_id)[1]
    before, after = TimelineWidget(first.run_id), TimelineWidget(second.run_id)
    assert before.state["run"]["continued_as"] == second.run_id
    assert before.state["run"]["status"] == "continued"
    assert after.state["run"]["continued_from"] == first.run_id
    before.close()
    after.close()
