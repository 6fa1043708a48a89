"""Property: whatever gathered steps, timers, events and cancels a run went through, replaying
its history with the same code fits, to the same end, and never reports a false divergence."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyworkflow_nb as pw

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
EVENTS = ("x", "y")

# one op of a branch: a step (async or in a thread, maybe failing once), a sleep, a wait
op = st.one_of(
    st.tuples(st.just("step"), st.integers(0, 3), st.booleans(), st.booleans()),
    st.tuples(st.just("sleep"), st.integers(1, 90)),
    st.tuples(st.just("wait"), st.sampled_from(EVENTS), st.none() | st.integers(5, 60)),
    st.tuples(st.just("value")),
)
plans = st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=3)
# what the driver does between looks at the run: move time, send an event, or cancel
drive = st.lists(st.one_of(st.tuples(st.just("skip"), st.integers(1, 40)),
                           st.tuples(st.just("send"), st.sampled_from(EVENTS)),
                           st.tuples(st.just("cancel"))), max_size=8)

_failed_once: set[str] = set()


@pw.step(max_retries=1, retry_delay="10s")
async def prop_async(key: str, fail: bool) -> str:
    if fail and key not in _failed_once:
        _failed_once.add(key)
        raise ConnectionError(key)
    await asyncio.sleep(0)
    return key


@pw.step(max_retries=1, retry_delay="10s")
def prop_thread(key: str, fail: bool) -> str:
    if fail and key not in _failed_once:
        _failed_once.add(key)
        raise ConnectionError(key)
    return key


@pw.workflow
async def prop_plan(plan: list[list[list[object]]], tag: str) -> list[list[object]]:
    async def branch(b: int, ops: list[list[object]]) -> list[object]:
        seen: list[object] = []
        for i, (kind, *args) in enumerate(ops):
            if kind == "step":
                n, threaded, fail = args
                fn = prop_thread if threaded else prop_async
                seen.append(await fn(f"{tag}-{b}-{i}-{n}", fail))
            elif kind == "sleep":
                await asyncio.sleep(float(args[0]))  # type: ignore[arg-type]
                seen.append("slept")
            elif kind == "wait":
                name, timeout = args
                try:
                    seen.append(await pw.wait_for_event(str(name), timeout=timeout))
                except pw.EventTimeout:
                    seen.append("timed out")
            else:
                seen.append(round(pw.random(), 6))
        return seen

    return list(await asyncio.gather(*(branch(b, ops) for b, ops in enumerate(plan))))


@pytest.fixture
def vclient(store: Path) -> Iterator[pw.SyncClient]:
    pw.use_virtual_clock(START)
    yield pw.SyncClient()
    pw.use_real_clock()


_count = iter(range(1_000_000))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, script=drive)
def test_any_recorded_run_replays_to_the_same_end(vclient: pw.SyncClient,
                                                  plan: list[list[tuple[object, ...]]],
                                                  script: list[tuple[object, ...]]) -> None:
    tag = f"p{next(_count)}"
    handle = vclient.start(prop_plan, [[list(o) for o in ops] for ops in plan], tag)
    for action, *args in script:
        if handle.status() in ("completed", "failed", "cancelled"):
            break
        if action == "skip":
            vclient.skip(f"{args[0]}s")
        elif action == "send":
            handle.send_event(str(args[0]), f"{args[0]}!")
        else:
            handle.cancel()
    vclient.skip("10m")  # whatever was due by then has happened
    verdict = pw.Replayer([prop_plan]).replay(handle)
    assert verdict.ok, f"{verdict.detail}\nplan={plan}\nscript={script}"
