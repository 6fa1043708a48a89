"""The virtual clock: sleeps, retry delays and event timeouts fire in time order, at once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import pytest

import pyworkflow_nb as pw

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
T0 = START.timestamp()
order: list[str] = []


@pytest.fixture
def vclock(vclient: pw.SyncClient) -> None:
    """A virtual-clock store of each kind (its clock starts at START), with ``order`` cleared."""
    order.clear()


@pw.workflow
async def sleeper(name: str, seconds: float) -> float:
    await pw.sleep(seconds)
    order.append(name)
    return pw.now().timestamp()


@pw.workflow
async def nap_chain() -> list[float]:
    seen = []
    for _ in range(3):
        await pw.sleep("1d")
        seen.append(pw.now().timestamp())
    return seen


attempts: list[float] = []


@pw.step(max_retries=2, retry_delay="1h", max_delay="1h")
async def flaky() -> str:
    attempts.append(time.time())
    if len(attempts) < 3:
        raise RuntimeError("not yet")
    return "ok"


@pw.workflow
async def retrying() -> str:
    return await flaky()


@pw.workflow
async def approval() -> str:
    try:
        return await pw.wait_for_event("approved", timeout="2 days")
    except pw.EventTimeout:
        return "timed out"


def test_three_day_sleep_takes_milliseconds(vclock):
    c = pw.SyncClient()
    handle = c.start(nap_chain)
    began = time.perf_counter()
    c.skip("3d")
    assert time.perf_counter() - began < 2
    assert handle.result() == [T0 + d * 86400 for d in (1, 2, 3)]
    fired = pw.sql("SELECT extract(epoch FROM ts)::float8 FROM events WHERE run_id = ? "
                   "AND type = 'timer.fired' ORDER BY seq", [handle.run_id]).fetchall()
    assert [t for (t,) in fired] == [T0 + d * 86400 for d in (1, 2, 3)]


def test_timers_fire_in_time_order_and_stop_at_the_target(vclock):
    c = pw.SyncClient()
    handles = {n: c.start(sleeper, n, s) for n, s in (("c", 300), ("a", 100), ("b", 200))}
    c.skip("250s")
    assert order == ["a", "b"]
    assert handles["c"].status() == "sleeping"
    assert handles["a"].result() == T0 + 100
    c.skip("50s")
    assert order == ["a", "b", "c"] and handles["c"].result() == T0 + 300


def test_retry_delays_use_virtual_time(vclock):
    attempts.clear()
    c = pw.SyncClient()
    handle = c.start(retrying)
    c.skip("59m")
    assert len(attempts) == 1 and handle.status() == "sleeping"
    c.skip("2h")
    assert handle.result() == "ok" and len(attempts) == 3
    started = pw.sql("SELECT extract(epoch FROM ts)::float8 FROM events WHERE run_id = ? "
                     "AND type = 'step.started' ORDER BY seq", [handle.run_id]).fetchall()
    assert [t for (t,) in started] == [T0, T0 + 3600, T0 + 7200]


def test_event_timeout_fires_when_time_is_skipped(vclock):
    c = pw.SyncClient()
    waiting, answered = c.start(approval), c.start(approval)
    c.skip("1d")
    answered.send_event("approved", "yes")
    c.skip("1d")
    assert answered.result() == "yes"
    assert waiting.result() == "timed out"
    data = pw.sql("SELECT data FROM events WHERE run_id = ? AND type = 'wait.timed_out'",
                  [waiting.run_id]).fetchall()
    assert json.loads(data[0][0]) == {"event": "approved"}


def test_skip_until_idle_sync_and_async(vclock):
    c = pw.SyncClient()
    first = c.start(nap_chain)
    assert c.skip_until_idle() == datetime.fromtimestamp(T0 + 3 * 86400, timezone.utc)
    assert first.status() == "completed"
    c.start(sleeper, "x", 3600)

    async def go() -> datetime:
        return await pw.skip_until_idle()

    assert asyncio.run(go()) == datetime.fromtimestamp(T0 + 3 * 86400 + 3600, timezone.utc)
    assert order == ["x"]


def test_skip_until_idle_stops_at_an_endless_timer_chain(vclock):
    @pw.workflow(name="forever")
    async def forever() -> None:
        while True:
            await pw.sleep("1m")

    c = pw.SyncClient()
    c.start(forever)
    with pytest.raises(pw.PyWorkflowError, match="timers are still pending"):
        asyncio.run(pw.skip_until_idle(limit=50))


def test_skipping_needs_the_virtual_clock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pw.shutdown()
    pw.use_real_clock()
    pw.configure(store=str(tmp_path / "real.duckdb"))
    try:
        with pytest.raises(pw.InvalidInput, match=r"pw\.use_virtual_clock\(\) first"):
            pw.skip("1h")
        with pytest.raises(pw.InvalidInput, match="invalid skip duration 'later'"):
            pw.skip("later")
    finally:
        pw.shutdown()


def test_virtual_time_work_never_resumes_on_the_real_clock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "virtual.duckdb"
    pw.configure(store=str(path), durability="sync")
    pw.use_virtual_clock(START)
    c = pw.SyncClient()
    sleeping = c.start(sleeper, "v", 3600)
    pw.schedule(sleeper, every="1d", args=["s", 1], schedule_id="daily")
    pw.shutdown()
    pw.use_real_clock()
    pw.configure(store=str(path))
    try:
        with pytest.raises(pw.InvalidInput, match=r"holds 1 unfinished run and 1 schedule on "
                                                  r"virtual time, and the engine now runs on "
                                                  r"real time"):
            pw.list_runs()
        assert order == [], "nothing resumed, nothing fired"
    finally:
        pw.shutdown()
    pw.use_virtual_clock(START)  # back on virtual time it goes on where it was
    pw.configure(store=str(path))
    try:
        c = pw.SyncClient()
        c.recover()
        c.skip("1h")
        assert c.get_run(sleeping.run_id).result(timeout=5) == T0 + 3600
        pw.get_schedule("daily").delete()
    finally:
        pw.shutdown()
        pw.use_real_clock()
    pw.configure(store=str(path))  # nothing unfinished: the store takes real time again
    try:
        assert [h.status() for h in pw.list_runs()] == ["completed"]
    finally:
        pw.shutdown()


def test_a_virtual_clock_set_in_the_past_refuses_real_runs_in_flight(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "real.duckdb"
    pw.configure(store=str(path), durability="sync")
    c = pw.SyncClient()
    c.start(sleeper, "r", 3600)
    pw.shutdown()
    pw.use_virtual_clock(START)  # 2025: before the run started
    pw.configure(store=str(path))
    try:
        with pytest.raises(pw.InvalidInput, match=r"holds 1 unfinished run on real time"):
            pw.list_runs()
    finally:
        pw.shutdown()
        pw.use_real_clock()
