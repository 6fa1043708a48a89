"""DBOS side of the benchmark: the same workloads written with DBOS async workflows and steps.

DBOS keeps its state in a SQLite system database inside the work directory (no Postgres).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from dbos import DBOS

REPLAY_STEPS = 1000
RECV_TIMEOUT_S = 3600.0

# Set by waits_after_1000 just before it blocks in recv, on the first run and on recovery alike.
reached_recv = threading.Event()
body_started_at: list[float] = []


@DBOS.step()
async def inc(i: int) -> int:
    return i + 1


@DBOS.workflow()
async def seq10(x: int) -> int:
    for _ in range(10):
        x = await inc(x)
    return x


@DBOS.workflow()
async def seq5(x: int) -> int:
    for _ in range(5):
        x = await inc(x)
    return x


@DBOS.workflow()
async def fanout(n: int) -> int:
    return sum(await asyncio.gather(*(inc(i) for i in range(n))))


@DBOS.workflow()
async def long(n: int) -> int:
    x = 0
    for _ in range(n):
        x = await inc(x)
    return x


@DBOS.workflow()
async def waits_after_1000() -> object:
    body_started_at.append(time.perf_counter())
    for i in range(REPLAY_STEPS):
        await inc(i)
    reached_recv.set()
    return await DBOS.recv_async("go", timeout_seconds=RECV_TIMEOUT_S)


def open_side(workdir: Path, mode: str) -> None:
    del mode  # DBOS has a single durability mode
    DBOS(
        config={
            "name": "pwnb-bench",
            "system_database_url": f"sqlite:///{workdir / 'dbos.sqlite'}",
            "log_level": "WARNING",
        }
    )
    DBOS.launch()


def close_side() -> None:
    DBOS.destroy()


async def run_seq10() -> None:
    h = await DBOS.start_workflow_async(seq10, 0)
    assert await h.get_result() == 10


async def run_many(n: int) -> None:
    handles = [await DBOS.start_workflow_async(seq5, i) for i in range(n)]
    results = await asyncio.gather(*(h.get_result() for h in handles))
    assert results == [i + 5 for i in range(n)]


async def run_fanout(n: int) -> None:
    h = await DBOS.start_workflow_async(fanout, n)
    assert await h.get_result() == n * (n + 1) // 2


async def run_long(n: int) -> None:
    h = await DBOS.start_workflow_async(long, n)
    assert await h.get_result() == n


def replay_prepare(workdir: Path, mode: str) -> None:
    """Run waits_after_1000 up to its recv, then return; the caller exits without cleanup."""
    open_side(workdir, mode)
    DBOS.start_workflow(waits_after_1000)
    if not reached_recv.wait(timeout=600):
        raise TimeoutError("waits_after_1000 never reached recv")


def replay_measure(workdir: Path, mode: str) -> dict[str, float]:
    """Fresh process, same database: launch recovers the PENDING run; time until it is at recv.

    DBOS re-enqueues recovered runs on its internal queue, which a worker polls about once a
    second. That idle wait is reported separately and left out of the headline figure.
    """
    t0 = time.perf_counter()
    open_side(workdir, mode)
    launched = time.perf_counter()
    if not reached_recv.wait(timeout=600):
        raise TimeoutError("recovered run never reached recv")
    at_recv = time.perf_counter()
    replay_s = at_recv - body_started_at[0]
    return {
        "replay": ((launched - t0) + replay_s) * 1000,
        "replay_end_to_end": (at_recv - t0) * 1000,
        "replay_launch": (launched - t0) * 1000,
        "replay_body": replay_s * 1000,
    }
