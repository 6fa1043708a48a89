"""Durable execution: steps, retries, timeouts, sleeps, events and recorded values."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

import pyworkflow_nb as pw

calls: list[str] = []


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()
    attempts.clear()


@pw.step(max_retries=3, retry_delay="exponential")
async def fetch(i: int) -> int:
    calls.append(f"fetch{i}")
    await asyncio.sleep(0.03 * (3 - i))  # finish in reverse order, 30 ms apart (a loaded
    # machine turned 1 ms apart around)
    return i * 10


@pw.step
def square(x: int) -> int:
    calls.append(f"square{x}")
    return x * x


@pw.workflow
async def pipeline(n: int) -> int:
    xs = await asyncio.gather(*(fetch(i) for i in range(n)))
    await pw.sleep("0.05s")
    extra = await pw.wait_for_event("go", timeout="1 minute")
    return sum([await square(x) for x in xs]) + extra["bonus"]


def test_issue_example_runs_end_to_end(client: pw.SyncClient) -> None:
    handle = client.start(pipeline, 3)
    handle.send_event("go", {"bonus": 1})  # sent before the wait started: buffered
    assert handle.result(timeout=10) == 0 + 100 + 400 + 1
    assert handle.status() == "completed"
    steps = {s["step_id"]: s for s in handle.steps()}
    assert set(steps) == {"fetch#1", "fetch#2", "fetch#3", "square#1", "square#2", "square#3"}
    assert steps["fetch#3"]["result"] == "20"


def test_step_ids_follow_call_order_not_completion_order(client: pw.SyncClient) -> None:
    handle = client.start(pipeline, 3)
    handle.send_event("go", {"bonus": 0})
    handle.result(timeout=10)
    started = [e["step"] for e in handle.events() if e["type"] == "step.started"]
    completed = [e["step"] for e in handle.events() if e["type"] == "step.completed"]
    assert started[:3] == ["fetch#1", "fetch#2", "fetch#3"]
    assert completed[:3] == ["fetch#3", "fetch#2", "fetch#1"]


@pw.step
async def echo(x: int) -> int:
    calls.append("echo")
    return x


@pw.workflow
async def twice() -> list[int]:
    return [await echo(1), await echo(1)]


def test_equal_calls_are_two_steps(client: pw.SyncClient) -> None:
    handle = client.start(twice)
    assert handle.result() == [1, 1]
    assert calls == ["echo", "echo"]
    assert [s["step_id"] for s in handle.steps()] == ["echo#1", "echo#2"]


attempts: dict[str, int] = {}


@pw.step(max_retries=3, retry_delay=["0.01s", "0.02s"])
async def flaky(key: str, failures: int) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= failures:
        raise ConnectionError(f"attempt {attempts[key]} failed")
    return "ok"


@pw.workflow
async def uses_flaky(key: str, failures: int) -> str:
    return await flaky(key, failures)


def test_retries_until_success_with_configured_delays(client: pw.SyncClient) -> None:
    handle = client.start(uses_flaky, "a", 2)
    assert handle.result(timeout=10) == "ok"
    failed = [e for e in handle.events() if e["type"] == "step.failed"]
    assert [e["attempt"] for e in failed] == [1, 2]
    gaps = [e["data"]["retry_at"] - e["ts"] for e in failed]
    assert gaps == pytest.approx([0.01, 0.02], abs=0.002)
    assert not any(e["data"]["final"] for e in failed)
    [step] = handle.steps()
    assert step["attempts"] == 3 and step["status"] == "completed"
    assert step["error"] is None, "a later success clears the failed attempts' error"


def test_retries_exhausted_fail_the_run_with_the_step_error(client: pw.SyncClient) -> None:
    handle = client.start(uses_flaky, "b", 10)
    with pytest.raises(pw.WorkflowFailed) as info:
        handle.result(timeout=10)
    assert info.value.step == "flaky#1"
    assert isinstance(info.value.__cause__, ConnectionError)
    assert attempts["b"] == 4  # one attempt + three retries
    assert handle.status() == "failed"
    assert handle.steps()[0]["status"] == "failed"


@pw.step(max_retries=5, retry_delay="0.01s")
async def fatal(kind: str) -> None:
    attempts[kind] = attempts.get(kind, 0) + 1
    if kind == "fatal":
        raise pw.FatalError("no point retrying")
    if kind == "nonretryable":
        raise pw.NonRetryableError("also final")
    raise pw.RetryableError("later", retry_after="0.03s")


@pw.workflow
async def uses_fatal(kind: str) -> None:
    await fatal(kind)


@pytest.mark.parametrize("kind", ["fatal", "nonretryable"])
def test_fatal_errors_stop_retries(client: pw.SyncClient, kind: str) -> None:
    with pytest.raises(pw.WorkflowFailed):
        client.run(uses_fatal, kind)
    assert attempts[kind] == 1


def test_retryable_error_sets_the_next_delay(client: pw.SyncClient) -> None:
    handle = client.start(uses_fatal, "retry_after")
    with pytest.raises(pw.WorkflowFailed):
        handle.result(timeout=10)
    failed = [e for e in handle.events() if e["type"] == "step.failed"]
    gaps = [e["data"]["retry_at"] - e["ts"] for e in failed[:-1]]
    assert gaps == pytest.approx([0.03] * 5, abs=0.002)


@pw.step(max_retries=1, retry_delay=0, non_retryable=[KeyError])
async def raises_key_error() -> None:
    attempts["key"] = attempts.get("key", 0) + 1
    raise KeyError("x")


@pw.workflow
async def uses_key_error() -> None:
    await raises_key_error()


def test_non_retryable_option(client: pw.SyncClient) -> None:
    with pytest.raises(pw.WorkflowFailed):
        client.run(uses_key_error)
    assert attempts["key"] == 1


@pw.step(timeout="0.05s", max_retries=1, retry_delay=0)
async def slow_async(times: list[float]) -> str:
    attempts["slow"] = attempts.get("slow", 0) + 1
    if attempts["slow"] == 1:
        await asyncio.sleep(5)
    return "fast enough"


@pw.workflow
async def uses_slow() -> str:
    return await slow_async([])


def test_step_timeout_cancels_the_attempt_and_counts_as_failed(client: pw.SyncClient) -> None:
    handle = client.start(uses_slow)
    assert handle.result(timeout=10) == "fast enough"
    [failed] = [e for e in handle.events() if e["type"] == "step.failed"]
    assert "timed out after" in failed["data"]["error"]["message"]
    assert failed["data"]["error"]["type"] == "builtins.TimeoutError"


@pw.workflow
async def sleeper() -> float:
    t0 = time.time()
    await pw.sleep(0.05)
    await pw.sleep_until(time.time() + 0.05)
    return time.time() - t0


def test_durable_sleeps_are_recorded_timers(client: pw.SyncClient) -> None:
    handle = client.start(sleeper)
    assert handle.result(timeout=10) >= 0.1
    timers = pw.sql("SELECT timer_id, status FROM timers WHERE run_id = ? ORDER BY timer_id",
                    [handle.run_id]).fetchall()
    assert timers == [("sleep#1", "fired"), ("sleep#2", "fired")]


@pw.workflow
async def waits_with_timeout() -> str:
    try:
        await pw.wait_for_event("never", timeout="0.05s")
    except pw.EventTimeout as exc:
        return f"timed out: {exc.event}: {exc}"
    return "received"


def test_wait_for_event_times_out(client: pw.SyncClient) -> None:
    handle = client.start(waits_with_timeout)
    assert handle.result(timeout=10) == (
        f"timed out: never: run {handle.run_id!r}: no 'never' event arrived within 50 ms "
        "(the timeout of event:never#1)")
    assert pw.sql("SELECT status FROM waits WHERE run_id = ?",
                  [handle.run_id]).fetchall() == [("timed_out",)]


@pw.workflow
async def waits_twice() -> list[object]:
    return [await pw.wait_for_event("item"), await pw.wait_for_event("item")]


def test_events_are_consumed_in_arrival_order(client: pw.SyncClient) -> None:
    handle = client.start(waits_twice)
    deadline = time.time() + 5
    while handle.status() != "waiting" and time.time() < deadline:
        time.sleep(0.005)
    handle.send_event("item", "first")
    handle.send_event("item", {"n": 2})
    assert handle.result(timeout=5) == ["first", {"n": 2}]


@pw.workflow
async def recorded_values() -> dict[str, object]:
    pw.get_logger().info("values taken")
    return {
        "now": pw.now().isoformat(),
        "random": pw.random(),
        "uuid": str(pw.uuid4()),
        "effect": await pw.side_effect(lambda: uuid.uuid4().hex),
        "info": pw.info().workflow,
    }


def test_recorded_values_are_events(client: pw.SyncClient,
                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pyworkflow_nb.workflow"):
        handle = client.start(recorded_values)
        result = handle.result()
    assert result["info"] == "recorded_values"
    assert "values taken" in caplog.text
    values = {e["step"]: e["data"]["value"] for e in handle.events()
              if e["type"] == "value.recorded"}
    assert values["random#1"] == result["random"]
    assert values["uuid4#1"] == result["uuid"]
    assert values["side_effect#1"] == result["effect"]


def test_primitives_outside_a_workflow_are_plain() -> None:
    asyncio.run(pw.sleep("0s"))
    assert 0 <= pw.random() < 1
    assert pw.uuid4().version == 4
    assert square(3) == 9  # a step called outside a workflow just runs
    assert asyncio.run(echo(5)) == 5
    with pytest.raises(pw.WorkflowContextError, match=r"needs a @pw\.workflow"):
        asyncio.run(pw.wait_for_event("x"))


@pw.step
async def sleeps_inside() -> None:
    await pw.sleep("1s")


@pw.workflow
async def bad_sleep() -> None:
    await sleeps_inside()


def test_pw_sleep_inside_a_step_is_an_error(client: pw.SyncClient) -> None:
    with pytest.raises(pw.WorkflowFailed) as info:
        client.run(bad_sleep)
    assert isinstance(info.value.__cause__, pw.WorkflowContextError)
    assert "inside step sleeps_inside#1" in str(info.value.__cause__)


@pw.workflow
async def child_wf(x: int) -> int:
    return await echo(x) * 2


@pw.workflow
async def parent_wf() -> int:
    return await child_wf(21)


def test_awaiting_a_workflow_runs_a_child(client: pw.SyncClient) -> None:
    handle = client.start(parent_wf)
    assert handle.result() == 42
    child = pw.get_run(f"{handle.run_id}/child_wf#1")
    assert child.row().parent_run_id == handle.run_id
    assert child.status() == "completed"
