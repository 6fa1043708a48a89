"""Recovery at scale: many sleeping runs in a store holding a million events.

    python bench/recovery_bench.py [--sleeping 2000] [--events 1000000]

Builds a store in a temp directory: ``--sleeping`` runs that did one step and now sleep for a
day (started through the engine), plus finished runs holding ``--events`` events in all
(written with SQL, as a long-used store would hold them). Run ids are random hex
throughout, so DuckDB's min/max zone maps cannot skip row groups for a run. Then measures,
in one process:

- **one query**: ``store.unfinished_histories()``, what recovery reads today;
- **per run, index**: the unfinished runs, then ``load_events`` once per run (the earlier
  recovery, on today's schema with the events index);
- **per run, no index**: the same on a copy of the store without the index (the earlier
  recovery on the earlier schema: one full scan per run);
- **recover**: ``pw.configure`` + ``pw.SyncClient().recover()`` end to end, until every
  sleeping run has replayed and is asleep again.

Target (issue 9): recovering 2,000 sleeping runs in a 1M-event store in <= 0.5 s. The ratio
column compares each row with the one-query read measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

import pyworkflow_nb as pw
from pyworkflow_nb.store import DuckDBStore


@pw.step
async def touch(i: int) -> int:
    return i


@pw.workflow
async def napper(i: int) -> int:
    await touch(i)
    await pw.sleep("1 day")
    return i


async def _start_sleepers(n: int) -> None:
    for i in range(n):
        await pw.start(napper, i)  # random hex run ids, as users get them


def build(path: Path, sleeping: int, events: int) -> None:
    pw.configure(store=str(path), durability="relaxed")
    asyncio.run(_start_sleepers(sleeping))
    pw.shutdown()
    con = duckdb.connect(str(path))
    runs = max(events // 10, 1)
    con.execute(
        "INSERT INTO runs (run_id, workflow, version, status, created_at, started_at, "
        "finished_at, updated_at) SELECT substr(md5(i::VARCHAR), 1, 12), 'old', 'v', 'completed', "
        "TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01', "
        "TIMESTAMP '2026-01-01' FROM range(?) t(i)", [runs])
    con.execute(
        "INSERT INTO events SELECT substr(md5((i % ?)::VARCHAR), 1, 12), (i // ?)::INTEGER + 1, "
        "TIMESTAMP '2026-01-01' + INTERVAL (i) MILLISECOND, 'step.completed', 'old#1', 1, "
        "'{\"result\": 1}' FROM range(?) t(i)", [runs, runs, events])
    con.execute("CHECKPOINT")
    con.close()


def per_run(store: DuckDBStore) -> int:
    runs = store.sql("SELECT run_id FROM runs WHERE status NOT IN "
                     "('completed', 'failed', 'cancelled')").fetchall()
    return sum(len(store.load_events(run_id)) for (run_id,) in runs)


def one_query(store: DuckDBStore) -> int:
    return sum(len(events) for _, events in store.unfinished_histories())


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recover_end_to_end(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    pw.configure(store=str(path), durability="relaxed")
    resumed = pw.SyncClient().recover()
    elapsed = time.perf_counter() - start
    pw.shutdown()
    return elapsed, len(resumed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleeping", type=int, default=2000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pw-recovery-bench-") as tmp:
        path = Path(tmp) / "store.duckdb"
        build(path, args.sleeping, args.events)
        bare = Path(tmp) / "no_index.duckdb"
        shutil.copy(path, bare)
        con = duckdb.connect(str(bare))
        con.execute("DROP INDEX events_run")
        con.close()

        store = DuckDBStore(path, read_only=True)
        n_events = one_query(store)
        rows = [("one query", timed(lambda: one_query(store), args.repeat))]
        assert per_run(store) == n_events
        rows.append(("per run, index", timed(lambda: per_run(store), args.repeat)))
        store.close()
        store = DuckDBStore(bare, read_only=True)
        rows.append(("per run, no index", timed(lambda: per_run(store), 1)))
        store.close()
        elapsed, resumed = recover_end_to_end(path)
        assert resumed == args.sleeping, resumed
        rows.append(("recover (end to end)", elapsed))

    base = rows[0][1]
    print(f"\n{args.sleeping} sleeping runs ({n_events} events) in a store of "
          f"{args.events + n_events} events\n")
    print(f"| {'what':22} | {'seconds':>8} | {'x one query':>11} |")
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 13}|")
    for name, seconds in rows:
        print(f"| {name:22} | {seconds:8.3f} | {seconds / base:10.1f}x |")
    verdict = "ok" if rows[-1][1] <= 0.5 else "MISS"
    print(f"\ntarget: recover <= 0.5 s -> {verdict}")


if __name__ == "__main__":
    main()
