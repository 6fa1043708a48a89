"""Restarting a run: the same run id from scratch, the earlier attempt kept as RUN~n."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_data import build_state

calls: list[str] = []


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@pw.step
def rs_step(x: int) -> int:
    calls.append(f"step {x}")
    return x * 2


@pw.workflow
async def rs_kid(x: int) -> int:
    return await rs_step(x)


@pw.workflow
async def rs_flow(x: int) -> int:
    doubled = await rs_kid(x)
    return doubled + await pw.wait_for_event("go")


def test_a_restarted_run_starts_over_and_keeps_its_earlier_attempt_in_sql(
        client: pw.SyncClient) -> None:
    handle = client.start(rs_flow, 5, run_id="rs-1")
    handle.send_event("go", 1)
    assert handle.result(timeout=5) == 11
    handle.restart("new pricing")
    wait_status(handle, "waiting")
    handle.send_event("go", 100)
    assert handle.result(timeout=5) == 110
    assert calls == ["step 5", "step 5"], "everything ran again, the child too"
    assert [e["type"] for e in handle.events()][:2] == ["workflow.restarted", "workflow.started"]
    assert handle.events()[0]["data"] == {"previous_run_id": "rs-1~1", "attempt": 2,
                                          "reason": "new pricing"}
    assert pw.sql("SELECT run_id, status, parent_run_id, attempt_of FROM runs "
                  "ORDER BY run_id").fetchall() == [
        ("rs-1", "completed", None, None), ("rs-1/rs_kid#1", "completed", "rs-1", None),
        ("rs-1~1", "completed", None, "rs-1"), ("rs-1~1/rs_kid#1", "completed", "rs-1~1", None)]
    old = client.get_run("rs-1~1")
    assert old.result() == 11
    assert [e["data"].get("payload") for e in old.events()
            if e["type"] == "event.received"] == [1]
    started = next(e for e in old.events() if e["type"] == "child.started")
    assert started["data"]["run_id"] == "rs-1~1/rs_kid#1"
    assert pw.sql("SELECT run_id, count(*) FROM steps GROUP BY run_id ORDER BY run_id"
                  ).fetchall() == [("rs-1/rs_kid#1", 1), ("rs-1~1/rs_kid#1", 1)]
    assert build_state(handle.events(), 0)["run"]["previous_attempt"] == "rs-1~1"
    handle.restart()
    assert client.get_run("rs-1~2").row().attempt_of == "rs-1"


def test_restarting_a_run_in_flight_terminates_it_first_and_survives_a_restart(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(rs_flow, 3, run_id="rs-2")
    wait_status(handle, "waiting")
    handle.restart()
    wait_status(handle, "waiting")
    previous = client.get_run("rs-2~1")
    assert previous.status() == "terminated"
    assert previous.row().error is not None and "restarted" in previous.row().error
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    client.recover()
    handle = client.get_run("rs-2")
    handle.send_event("go", 0)
    assert handle.result(timeout=5) == 6
    assert calls == ["step 3", "step 3"]


def test_restart_refusals_say_why_and_change_nothing(client: pw.SyncClient) -> None:
    handle = client.start(rs_flow, 1, run_id="rs-3")
    handle.send_event("go", 0)
    handle.result(timeout=5)
    handle.restart()
    with pytest.raises(pw.InvalidInput, match=r"run 'rs-3~1' is an earlier attempt of run "
                                              r"'rs-3'; restart 'rs-3' instead"):
        client.get_run("rs-3~1").restart()
    with pytest.raises(pw.InvalidInput, match=r"restart\(reason=...\) must be a string"):
        handle.restart(7)  # type: ignore[arg-type]
    with pytest.raises(pw.RunNotFound):
        client.get_run("nope").restart()
    assert pw.sql("SELECT count(*) FROM runs").fetchall() == [(4,)]


@pw.workflow
async def rs_leaves_a_child() -> str:
    pw.start_child(rs_flow, 1, parent_close="abandon")
    return await pw.wait_for_event("done")


def test_a_restart_refused_for_an_abandoned_child_ends_nothing(client: pw.SyncClient) -> None:
    handle = client.start(rs_leaves_a_child, run_id="rs-4")
    deadline = time.time() + 5
    while True:
        try:
            child = client.get_run("rs-4/rs_flow#1")
            break
        except pw.RunNotFound:
            assert time.time() < deadline, "the child run never started"
            time.sleep(0.005)
    wait_status(handle, "waiting")
    wait_status(child, "waiting")
    with pytest.raises(pw.InvalidInput, match=r"its child run\(s\) rs-4/rs_flow#1(, \S+)* would go "
                                              r"on running \(parent_close='abandon'\)"):
        handle.restart()
    assert handle.status() == "waiting", "the refused restart terminated nothing"
    child.terminate("clean up")
    handle.restart()
    assert client.get_run("rs-4~1").status() == "terminated"
