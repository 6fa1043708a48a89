"""Workflow bodies on their deterministic loop: asyncio inside a body, refused I/O, recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

import pyworkflow_nb as pw

executed: list[str] = []
START = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()


@pytest.fixture
def vclock(store: Path) -> Iterator[pw.SyncClient]:
    pw.use_virtual_clock(START)
    yield pw.SyncClient()
    pw.use_real_clock()


def _restart(store: Path) -> list[pw.SyncRunHandle]:
    pw.shutdown()
    pw.configure(store=str(store))
    return pw.SyncClient().recover()


def _until(check, timeout: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "condition not reached"
        time.sleep(0.005)


@pw.step
async def step_a(x: int) -> int:
    executed.append(f"a{x}")
    return x


@pw.step
async def step_b(x: int) -> int:
    executed.append(f"b{x}")
    return x


@pw.step
async def step_b2(x: int) -> int:
    executed.append(f"b2_{x}")
    return x * 10


@pw.workflow
async def gather_sleep_wait() -> list[int]:
    async def a() -> int:
        await asyncio.sleep(0.3)  # a plain await: a durable timer
        return await step_a(1)

    async def b() -> int:
        await step_b(1)
        y = await pw.wait_for_event("go")
        return await step_b2(y)

    return list(await asyncio.gather(a(), b()))


def test_unchanged_code_recovers_with_an_event_sent_during_recovery(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(gather_sleep_wait, run_id="r")
    _until(lambda: sum(s["status"] == "completed" for s in handle.steps()) == 2)
    pw.shutdown()
    pw.configure(store=str(store))
    pw.SyncClient().get_run("r").send_event("go", 2)  # the engine starts and recovers first
    assert pw.SyncClient().get_run("r").result(timeout=5) == [1, 20]
    assert executed == ["b1", "a1", "b2_2"]  # nothing ran twice
    types = [e["type"] for e in handle.events()]
    assert types.count("timer.started") == 1 and types.count("workflow.started") == 1


@pw.workflow
async def asyncio_inside() -> dict[str, object]:
    ready = asyncio.Event()
    queue: asyncio.Queue[int] = asyncio.Queue()
    lock = asyncio.Lock()
    order: list[str] = []

    async def producer() -> None:
        for i in range(3):
            await queue.put(await step_a(i))
        ready.set()

    async def consumer() -> int:
        await ready.wait()
        total = 0
        while not queue.empty():
            async with lock:
                total += queue.get_nowait()
        order.append("consumed")
        return total

    total, _ = await asyncio.gather(consumer(), producer())
    done, pending = await asyncio.wait([asyncio.ensure_future(step_b(7))], timeout=3600)
    try:
        async with asyncio.timeout(60):
            await pw.wait_for_event("never")
    except TimeoutError:
        order.append("timeout")
    try:
        await asyncio.wait_for(pw.wait_for_event("late"), timeout=30)
    except TimeoutError:
        order.append("wait_for")
    return {"total": total, "done": len(done), "pending": len(pending), "order": order}


def test_asyncio_primitives_work_in_a_body_and_their_timers_are_durable(
        vclock: pw.SyncClient) -> None:
    handle = vclock.start(asyncio_inside)
    vclock.skip("2m")
    assert handle.result(timeout=5) == {"total": 3, "done": 1, "pending": 0,
                                        "order": ["consumed", "timeout", "wait_for"]}
    timers = pw.sql("SELECT status, epoch(fires_at) - epoch(started_at) FROM timers "
                    "WHERE run_id = ? ORDER BY timer_id", [handle.run_id]).fetchall()
    assert sorted(timers) == [("cancelled", pytest.approx(3600)),
                              ("fired", pytest.approx(30)), ("fired", pytest.approx(60))]


@pw.workflow
async def does_io(kind: str) -> object:
    loop = asyncio.get_running_loop()
    if kind == "thread":
        return await asyncio.to_thread(sum, [1, 2])
    if kind == "executor":
        return await loop.run_in_executor(None, sum, [1, 2])
    if kind == "socket":
        return await asyncio.open_connection("127.0.0.1", 9)
    return await asyncio.create_subprocess_exec("true")


@pytest.mark.parametrize(("kind", "call"), [
    ("thread", "run_in_executor() (or asyncio.to_thread())"),
    ("executor", "run_in_executor() (or asyncio.to_thread())"),
    ("socket", "create_connection()"),
    ("subprocess", "subprocess_exec()"),
])
def test_real_io_in_a_body_fails_at_once_naming_the_call(client: pw.SyncClient, kind: str,
                                                         call: str) -> None:
    with pytest.raises(pw.WorkflowFailed) as info:
        client.run(does_io, kind)
    error = info.value.__cause__
    assert isinstance(error, pw.WorkflowContextError)
    assert call in str(error) and "@pw.step" in str(error)


@pw.workflow
async def waiting_kid() -> int:
    return await pw.wait_for_event("kid-go")


@pw.workflow
async def kid_parent() -> int:
    return await waiting_kid() + 1


def test_a_recovered_child_is_started_once(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(kid_parent)
    child_id = f"{handle.run_id}/waiting_kid#1"
    _until(lambda: any(r.run_id == child_id and r.status() == "waiting"
                       for r in pw.list_runs(workflow="waiting_kid")))
    recovered = {h.run_id for h in _restart(store)}
    assert recovered == {handle.run_id, child_id}
    pw.SyncClient().get_run(child_id).send_event("kid-go", 41)
    assert pw.SyncClient().get_run(handle.run_id).result(timeout=5) == 42
    started = [e for e in pw.get_run(handle.run_id).events() if e["type"] == "child.started"]
    assert len(started) == 1


attempts_seen: list[int] = []


@pw.step(max_retries=2, retry_delay="0.01s")
def counts_attempts() -> int:
    attempts_seen.append(pw.info().attempt)
    if len(attempts_seen) < 3:
        raise ConnectionError("again")
    return pw.info().attempt


@pw.workflow
async def attempt_reader() -> int:
    return await counts_attempts()


def test_info_attempt_inside_a_step_is_the_current_attempt(client: pw.SyncClient) -> None:
    attempts_seen.clear()
    assert client.run(attempt_reader) == 3
    assert attempts_seen == [1, 2, 3]


@pw.workflow
async def edited_target() -> int:
    first = await step_a(1)
    await pw.wait_for_event("go")
    return first


def test_an_edit_diverges_with_the_exact_command_and_line(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    handle = client.start(edited_target)
    _until(lambda: handle.status() == "waiting")
    pw.shutdown()

    @pw.workflow(name="edited_target")
    async def edited() -> int:
        first = await step_b(1)  # was: step_a(1)
        await pw.wait_for_event("go")
        return first

    pw.configure(store=str(store))
    [resumed] = pw.SyncClient().recover()
    with pytest.raises(pw.WorkflowFailed) as info:
        resumed.result(timeout=5)
    error = info.value.__cause__
    assert isinstance(error, pw.NonDeterminismError)
    assert (error.expected, error.actual, error.position) == ("step step_a#1", "step step_b#1", 1)
    assert "test_workflow_loop.py, line" in str(error)
    assert executed == ["a1"]
