"""Durable timers at scale: memory per sleeping run, and wake-up lag with the real clock.

    python bench/timers_bench.py [--runs 10000]

Memory: Python heap (tracemalloc) held by N runs all asleep on a durable timer, once their
events are committed (the store's own memory is DuckDB's, outside the Python heap), and the
process's resident memory (RSS, Linux) grown meanwhile, DuckDB's share included.
Lag: N runs sleep until deadlines spread over a few seconds; each records how late it woke.
Targets: <= 5 KB per sleeping run, p99 lag <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import pyworkflow_nb as pw

lags: list[float] = []


@pw.workflow
async def nap(until: float) -> None:
    await pw.sleep_until(until)
    lags.append(time.time() - until)


async def start_all(n: int, deadline: float | list[float]) -> None:
    """Start the runs 500 at a time: starts made together share their durable write."""
    untils = deadline if isinstance(deadline, list) else [deadline] * n
    for first in range(0, n, 500):
        await asyncio.gather(*(pw.start(nap, until) for until in untils[first:first + 500]))
    engine = pw.runtime.runtime.ensure()
    await engine.writer.flush()
    while any(r.sleeping == 0 for r in engine.runs.values()):
        await asyncio.sleep(0.01)
    await engine.writer.flush()


def rss_bytes() -> int:
    """The process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


async def measure_rss(n: int) -> float:
    """RSS growth per sleeping run; measured first, without tracemalloc's own overhead."""
    engine = pw.runtime.runtime.ensure()
    await engine.recover()
    gc.collect()
    before = rss_bytes()
    await start_all(n, time.time() + 3600)
    gc.collect()
    return (rss_bytes() - before) / n


async def measure_memory(n: int) -> tuple[float, int, int]:
    engine = pw.runtime.runtime.ensure()
    await engine.recover()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await start_all(n, time.time() + 3600)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    delta = sum(s.size_diff for s in after.compare_to(before, "filename"))
    asyncio_timers = len(engine.loop._scheduled)  # type: ignore[attr-defined]
    return delta / n, len(engine.timers), asyncio_timers


async def measure_lag(n: int, spread: float) -> list[float]:
    engine = pw.runtime.runtime.ensure()
    await engine.recover()
    lags.clear()
    start = time.time() + 2.0 + n / 2000  # room to start every run before the first deadline
    deadlines = [start + spread * i / n for i in range(n)]
    await start_all(n, deadlines)
    while len(lags) < n:
        await asyncio.sleep(0.05)
    return sorted(lags)


def run_phase(store: Path, phase: str, n: int) -> object:
    pw.configure(store=str(store), durability="sync")
    try:
        if phase == "rss":
            return asyncio.run(measure_rss(n))
        if phase == "memory":
            return asyncio.run(measure_memory(n))
        return asyncio.run(measure_lag(n, spread=5.0))
    finally:
        pw.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    n = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        rss = run_phase(Path(tmp) / "rss.duckdb", "rss", n)
        per_run, heap_entries, loop_timers = run_phase(Path(tmp) / "mem.duckdb", "memory", n)
        lag = run_phase(Path(tmp) / "lag.duckdb", "lag", n)
    ms = [x * 1000 for x in lag]  # type: ignore[union-attr]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    rows = [
        ("sleeping runs", f"{n:,}", ""),
        ("timer heap entries", f"{heap_entries:,}", ""),
        ("asyncio timers on the loop", f"{loop_timers:,}", ""),
        ("Python heap per sleeping run", f"{per_run / 1024:.2f} KB", ""),
        ("RSS growth per sleeping run", f"{rss / 1024:.2f} KB", "<= 5 KB"),  # type: ignore[operator]
        ("wake-up lag p50", f"{statistics.median(ms):.1f} ms", ""),
        ("wake-up lag p99", f"{p99:.1f} ms", "<= 50 ms"),
        ("wake-up lag max", f"{ms[-1]:.1f} ms", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
