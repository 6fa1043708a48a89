"""pyworkflow_nb side of the benchmark: the workloads written with pyworkflow_nb.

The store is a DuckDB file inside the work directory; ``mode`` is the durability setting.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from pathlib import Path

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import runtime

REPLAY_STEPS = 1000


@pw.step
async def inc(i: int) -> int:
    return i + 1


@pw.workflow
async def seq10(x: int) -> int:
    for _ in range(10):
        x = await inc(x)
    return x


@pw.workflow
async def seq5(x: int) -> int:
    for _ in range(5):
        x = await inc(x)
    return x


@pw.workflow
async def fanout(n: int) -> int:
    return sum(await asyncio.gather(*(inc(i) for i in range(n))))


@pw.workflow
async def long(n: int) -> int:
    x = 0
    for _ in range(n):
        x = await inc(x)
    return x


@pw.workflow
async def waits_after_1000() -> None:
    for i in range(REPLAY_STEPS):
        await inc(i)
    await pw.wait_for_event("go")


def open_side(workdir: Path, mode: str) -> None:
    pw.configure(store=str(workdir / "store.duckdb"), durability=mode)


def close_side() -> None:
    pw.shutdown()


async def run_seq10() -> None:
    h = await pw.start(seq10, 0)
    assert await h.result() == 10


async def run_many(n: int) -> None:
    handles = [await pw.start(seq5, i) for i in range(n)]
    results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [i + 5 for i in range(n)]


async def run_fanout(n: int) -> None:
    h = await pw.start(fanout, n)
    assert await h.result() == n * (n + 1) // 2


async def run_long(n: int) -> None:
    h = await pw.start(long, n)
    assert await h.result() == n


def replay_prepare(workdir: Path, mode: str) -> None:
    """Run waits_after_1000 until it waits for its event, then shut down with the run unfinished."""
    open_side(workdir, mode)
    h = pw.SyncClient().start(waits_after_1000)
    (workdir / "run_id").write_text(h.run_id)
    deadline = time.monotonic() + 600
    while h.status() != "waiting":
        if time.monotonic() > deadline:
            raise TimeoutError(f"waits_after_1000 never reached its wait (status {h.status()!r})")
        time.sleep(0.01)
    pw.shutdown()


def replay_measure(workdir: Path, mode: str) -> dict[str, float]:
    """Fresh process, same store: time configure + recover() until the run is back at its wait.

    recover() should return only once the run has replayed; the status poll afterwards makes
    sure the figure covers the whole replay even if it does not.
    """
    run_id = (workdir / "run_id").read_text()
    opened: list[float] = []  # when the store is open and the engine starts recovering
    runtime.on_start.append(lambda _engine: opened.append(time.perf_counter()))
    t0 = time.perf_counter()
    open_side(workdir, mode)
    client = pw.SyncClient()
    handles = client.recover()
    recovered = time.perf_counter()
    h = client.get_run(run_id)
    deadline = time.monotonic() + 600
    while h.status() != "waiting":
        if time.monotonic() > deadline:
            raise TimeoutError(f"recovered run never reached its wait (status {h.status()!r})")
        time.sleep(0.0005)
    at_wait = time.perf_counter()
    return {
        "replay": (at_wait - t0) * 1000,
        "replay_open": (opened[0] - t0) * 1000,
        "replay_recover_call": (recovered - t0) * 1000,
        "replay_handles": float(len(handles)),
    }


def sync_many_measure(workdir: Path, mode: str, counts: dict[str, int]) -> dict[str, float]:
    """``many`` through the SyncClient in a plain script (the engine on its own thread), and
    the peak RSS of this process, which ran nothing else."""
    open_side(workdir, mode)
    client = pw.SyncClient()
    n = counts["many"]

    def one_round(count: int) -> float:
        began = time.perf_counter()
        handles = [client.start(seq5, i) for i in range(count)]
        assert [h.result() for h in handles] == [i + 5 for i in range(count)]
        return count / (time.perf_counter() - began)

    one_round(min(n, 20))  # warm-up
    rate = statistics.median(one_round(n) for _ in range(counts["many_reps"]))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parts = resident_parts()
    pw.shutdown()
    return {"many_sync": rate, "rss": rss_mb, **parts}


def resident_parts() -> dict[str, float]:
    """Resident memory now (MB; Linux only): anonymous, and pages of DuckDB's library file."""
    try:
        smaps = Path("/proc/self/smaps").read_text()
    except OSError:
        return {}
    anon = duckdb_lib = 0
    mapping = ""
    for line in smaps.splitlines():
        field, _, rest = line.partition(":")
        if not field[:1].isupper():  # a mapping's header: address range, ..., path
            words = line.split()
            mapping = words[5] if len(words) > 5 else ""
        elif field == "Anonymous":
            anon += int(rest.split()[0])
        elif field == "Rss" and "_duckdb" in mapping:
            duckdb_lib += int(rest.split()[0])
    return {"rss_anon": anon / 1024, "rss_duckdb_lib": duckdb_lib / 1024}


def recovery_measure(workdir: Path, mode: str, counts: dict[str, int]) -> dict[str, float]:
    """Recover ``sleeping`` sleeping runs from a store of ``events`` events (see
    recovery_bench.py), end to end."""
    if mode != "sync":
        return {}  # recovery reads and replays the same way in either mode
    from recovery_bench import build, recover_end_to_end

    path = workdir / "recovery.duckdb"
    build(path, counts["sleeping"], counts["events"])
    elapsed, resumed = recover_end_to_end(path)
    assert resumed == counts["sleeping"], resumed
    return {"recovery": elapsed}
