"""Forking a run from one of its steps: earlier results reused, that step on run anew."""

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
def fk_fetch(i: int) -> int:
    calls.append(f"fetch {i}")
    return i * 10


@pw.step(max_retries=0)
def fk_report(rows: list[int]) -> int:
    calls.append("report")
    raise ValueError("bug in the report")


@pw.workflow
async def fk_pipeline(n: int) -> int:
    rows = [await fk_fetch(i) for i in range(1, n + 1)]
    return await fk_report(rows)


def _types(handle: pw.SyncRunHandle) -> list[str]:
    return [e["type"] for e in handle.events()]


def test_a_fork_from_the_failed_step_reuses_the_steps_before_it_with_the_fixed_code(
        client: pw.SyncClient, restore_definitions: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = client.start(fk_pipeline, 4, run_id="pipe-1")
    with pytest.raises(pw.WorkflowFailed):
        source.result(timeout=5)
    assert calls == ["fetch 1", "fetch 2", "fetch 3", "fetch 4", "report"]

    @pw.step(name="fk_report")
    def fixed(rows: list[int]) -> int:
        calls.append("fixed report")
        return sum(rows)

    monkeypatch.setitem(globals(), "fk_report", fixed)  # as re-running the step's cell does
    calls.clear()
    fork = source.fork("fk_report#1", run_id="pipe-1-fixed")
    assert fork.run_id == "pipe-1-fixed"
    assert fork.result(timeout=5) == 100
    assert calls == ["fixed report"], "steps 1-4 were not paid for again"
    assert source.status() == "failed", "the source run is left as it was"
    assert _types(fork) == [
        "workflow.started", *["step.started", "step.completed"] * 4, "workflow.forked",
        "step.started", "step.completed", "workflow.completed"]
    assert fork.events()[9]["data"] == {"run_id": "pipe-1", "step": "fk_report#1"}
    assert [e["ts"] for e in fork.events()[1:9]] == [e["ts"] for e in source.events()[1:9]]
    assert pw.sql("SELECT run_id, status, forked_from FROM runs ORDER BY created_at"
                  ).fetchall() == [("pipe-1", "failed", None),
                                   ("pipe-1-fixed", "completed", "pipe-1")]
    assert pw.sql("SELECT count(*) FROM steps WHERE run_id = 'pipe-1-fixed'").fetchall() == [
        (5,)]


def test_a_fork_from_a_middle_step_runs_that_step_and_everything_after_it(
        client: pw.SyncClient, restore_definitions: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    @pw.step(name="fk_report")
    def fine(rows: list[int]) -> int:
        return sum(rows)

    monkeypatch.setitem(globals(), "fk_report", fine)

    source = client.start(fk_pipeline, 4)
    assert source.result(timeout=5) == 100
    calls.clear()
    fork = source.fork("fk_fetch#3")
    assert fork.result(timeout=5) == 100
    assert calls == ["fetch 3", "fetch 4"]
    assert fork.row().input == source.row().input
    state = build_state(fork.events(), 0)
    assert state["run"]["forked_from"] == source.run_id
    assert [(m["kind"], m["label"]) for m in state["markers"]] == [
        ("fork", f"from {source.run_id} at fk_fetch#3")]


def test_a_bare_step_name_means_its_first_call_and_an_unknown_step_lists_the_run_s_steps(
        client: pw.SyncClient) -> None:
    source = client.start(fk_pipeline, 2)
    with pytest.raises(pw.WorkflowFailed):
        source.result(timeout=5)
    with pytest.raises(pw.InvalidInput, match=r"no step 'fk_fetch#9' to fork from; its "
                       r"steps: fk_fetch#1, fk_fetch#2, fk_report#1"):
        source.fork("fk_fetch#9")
    for bad in ("", "  ", 3):
        with pytest.raises(pw.InvalidInput, match="from_step must name a step"):
            source.fork(bad)  # type: ignore[arg-type]
    with pytest.raises(pw.InvalidInput, match=f"run id {source.run_id!r} is taken"):
        source.fork("fk_fetch", run_id=source.run_id)
    assert pw.sql("SELECT count(*) FROM runs").fetchall() == [(1,)], "nothing was created"
    calls.clear()
    with pytest.raises(pw.WorkflowFailed):
        source.fork("fk_fetch").result(timeout=5)
    assert calls == ["fetch 1", "fetch 2", "report"]
    with pytest.raises(pw.RunNotFound):
        pw.get_run("no-such-run")


@pw.step
def fk_s1() -> int:
    calls.append("s1")
    return 1


@pw.step
def fk_s2(x: int) -> int:
    calls.append("s2")
    return x + 1


@pw.workflow
async def fk_gated() -> int:
    b = await fk_s2(await fk_s1())
    await pw.wait_for_event("again")
    return b


def test_a_fork_of_a_run_in_flight_goes_its_own_way_and_survives_a_restart(
        store: Path, client: pw.SyncClient) -> None:
    source = client.start(fk_gated)
    wait_status(source, "waiting")
    source.pause()
    fork = source.fork("fk_s2")
    wait_status(fork, "waiting")
    assert calls == ["s1", "s2", "s2"]
    assert "workflow.paused" not in _types(fork), "the fork starts out running"
    assert source.status() == "paused"
    pw.shutdown()

    pw.configure(store=str(store))
    client = pw.SyncClient()
    client.recover()
    fork = client.get_run(fork.run_id)
    fork.send_event("again")
    assert fork.result(timeout=5) == 2
    assert calls == ["s1", "s2", "s2"], "the restart replayed the fork's history"
    assert client.get_run(source.run_id).status() == "paused"


@pw.workflow
async def fk_kid_done() -> int:
    return 1


@pw.workflow
async def fk_kid_waits() -> int:
    return int(await pw.wait_for_event("go"))


@pw.workflow
async def fk_parent() -> int:
    first = await fk_kid_done()
    later = pw.start_child(fk_kid_waits)
    await fk_s1()
    return first + await later


def _wait_for_step(handle: pw.SyncRunHandle, step: str) -> None:
    deadline = time.time() + 5
    while not any(e["type"] == "step.completed" and e["step"] == step
                  for e in handle.events()):
        assert time.time() < deadline, f"{handle.run_id} never completed {step}"
        time.sleep(0.005)


def test_a_fork_keeps_ended_children_and_runs_unended_ones_under_its_own_id(
        client: pw.SyncClient) -> None:
    source = client.start(fk_parent, run_id="kids")
    _wait_for_step(source, "fk_s1#1")  # both children started, the second one waits
    fork = source.fork("fk_s1", run_id="kids-fork")
    _wait_for_step(fork, "fk_s1#1")
    waiting = client.get_run("kids-fork/fk_kid_waits#1")
    wait_status(waiting, "waiting")
    assert waiting.row().parent_run_id == "kids-fork"
    started = {e["step"]: e["data"]["run_id"] for e in fork.events()
               if e["type"] == "child.started"}
    assert started == {"fk_kid_done#1": "kids/fk_kid_done#1",  # ran once, in the source
                       "fk_kid_waits#1": "kids-fork/fk_kid_waits#1"}
    with pytest.raises(pw.RunNotFound):
        client.get_run("kids-fork/fk_kid_done#1")
    waiting.send_event("go", 41)
    assert fork.result(timeout=5) == 42
    client.get_run("kids/fk_kid_waits#1").send_event("go", 1)
    assert source.result(timeout=5) == 2
