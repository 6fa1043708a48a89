"""Child runs with retry= and timeout=: a failed child run is followed by a new one, and a
child that takes too long is terminated, under the virtual clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_data import build_state

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
T0 = START.timestamp()
tries: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    tries.clear()


@pw.workflow
async def cr_flaky(fail_times: int) -> str:
    tries.append(pw.info().run_id)
    if len(tries) <= fail_times:
        raise ValueError(f"try {len(tries)} failed")
    return "ok"


@pw.workflow
async def cr_parent(fail_times: int, retry: object) -> str:
    return await pw.start_child(cr_flaky, fail_times, retry=retry)


def _child_events(handle: pw.SyncRunHandle) -> list[tuple[str, int | None]]:
    return [(e["type"], e["attempt"]) for e in handle.events() if e["type"].startswith("child.")]


def test_a_failed_child_run_is_retried_in_a_new_run_after_its_delay(any_vstore: str) -> None:
    c = pw.SyncClient()
    parent = c.start(cr_parent, 2, {"max_retries": 2, "retry_delay": "1h"})
    c.skip("59m")
    assert len(tries) == 1 and parent.status() == "sleeping"
    c.skip("2h")
    assert parent.result() == "ok"
    base = f"{parent.run_id}/cr_flaky#1"
    assert tries == [base, f"{base}@2", f"{base}@3"]
    assert _child_events(parent) == [("child.started", 1), ("child.failed", 1),
                                     ("child.started", 2), ("child.failed", 2),
                                     ("child.started", 3), ("child.completed", 3)]
    failed = [e["data"] for e in parent.events() if e["type"] == "child.failed"]
    assert failed[0]["final"] is False and failed[0]["retry_at"] == T0 + 3600
    assert [c.get_run(r).status() for r in tries] == ["failed", "failed", "completed"]
    assert c.get_run(f"{base}@2").row().parent_run_id == parent.run_id
    row = next(r for r in build_state(parent.events(), T0)["rows"] if r["kind"] == "child")
    assert [s["status"] for s in row["segments"]] == [
        "failed", "retrying", "failed", "retrying", "completed"]
    assert row["run_id"] == f"{base}@3"


def test_the_last_failure_reaches_the_parent_once_the_retries_are_spent(any_vstore: str) -> None:
    c = pw.SyncClient()
    parent = c.start(cr_parent, 5, 1)
    c.skip("1m")
    with pytest.raises(pw.WorkflowFailed) as failed:
        parent.result()
    assert isinstance(failed.value.__cause__, ValueError)
    assert str(failed.value.__cause__) == "try 2 failed"
    assert len(tries) == 2
    assert parent.events()[-2]["data"]["final"] is True


@pw.workflow
async def cr_slow() -> str:
    tries.append("slow")
    await pw.sleep("2h")
    return "late"


@pw.workflow
async def cr_times_out() -> str:
    try:
        return await pw.start_child(cr_slow, timeout="1h")
    except TimeoutError as exc:
        return f"gave up: {exc}"


def test_a_child_past_its_timeout_is_terminated_and_the_parent_gets_timeout_error(
        any_vstore: str) -> None:
    c = pw.SyncClient()
    parent = c.start(cr_times_out)
    c.skip("30m")
    child = c.get_run(f"{parent.run_id}/cr_slow#1")
    assert child.status() == "sleeping"
    c.skip("31m")
    assert parent.result() == (f"gave up: child cr_slow#1 of run {parent.run_id!r} did not "
                               "finish within its timeout of 1 h")
    assert child.status() == "terminated"
    started = next(e for e in parent.events() if e["type"] == "child.started")
    assert started["data"]["timeout_at"] == T0 + 3600


@pw.workflow
async def cr_retry_then_time_out() -> str:
    try:
        return await pw.start_child(cr_flaky, 9, retry={"max_retries": 9,
                                                        "retry_delay": "20m"}, timeout="1h")
    except TimeoutError:
        return "timed out"


def test_the_timeout_counts_every_attempt_and_no_retry_starts_after_it(any_vstore: str) -> None:
    c = pw.SyncClient()
    parent = c.start(cr_retry_then_time_out)
    c.skip("2h")
    assert parent.result() == "timed out"
    assert len(tries) == 3, "attempts at 0, 20 and 40 minutes; the next would start at 60"


@pw.step
def cr_note(run_id: str) -> None:
    tries.append(run_id)


@pw.workflow
async def cr_gated() -> str:
    await cr_note(pw.info().run_id)  # a step: once per child run, replays or not
    if "@" not in pw.info().run_id:
        raise ValueError("the first child run fails")
    return await pw.wait_for_event("go")


@pw.workflow
async def cr_gated_parent() -> str:
    return await pw.start_child(cr_gated, retry={"max_retries": 3, "retry_delay": "10m"},
                                timeout="1d")


def test_a_restart_during_the_retry_wait_goes_on_with_the_next_attempt(any_vstore: str) -> None:
    c = pw.SyncClient()
    parent = c.start(cr_gated_parent)
    c.skip("1m")
    assert len(tries) == 1 and parent.status() == "sleeping"
    pw.shutdown()
    pw.configure(store=any_vstore)
    c = pw.SyncClient()
    c.recover()
    c.skip("10m")
    second = c.get_run(f"{parent.run_id}/cr_gated#1@2")
    assert second.status() == "waiting"
    pw.shutdown()
    pw.configure(store=any_vstore)
    c = pw.SyncClient()
    c.recover()
    second.send_event("go", "done")
    assert c.get_run(parent.run_id).result(timeout=5) == "done"
    assert len(tries) == 2
    assert [t for t, _ in _child_events(parent)].count("child.started") == 2


@pw.workflow
async def cr_bad(option: str) -> None:
    if option == "retry":
        pw.start_child(cr_slow, retry={"attempts": 3})
    elif option == "kind":
        pw.start_child(cr_slow, retry="3")  # type: ignore[arg-type]
    else:
        pw.start_child(cr_slow, timeout="-1s")


@pytest.mark.parametrize(("option", "said"), [
    ("retry", "start_child(retry=...) has unknown option(s) attempts; it takes max_retries, "
              "retry_delay, backoff, max_delay, non_retryable"),
    ("kind", "start_child(retry=...) must be a number of retries or a dict"),
    ("timeout", "start_child timeout must not be negative, got '-1s'"),
])
def test_bad_child_options_fail_the_run_saying_why(any_vstore: str, option: str,
                                                   said: str) -> None:
    with pytest.raises(pw.WorkflowFailed) as bad:
        pw.SyncClient().run(cr_bad, option)
    assert said in str(bad.value.__cause__)
    assert tries == []
