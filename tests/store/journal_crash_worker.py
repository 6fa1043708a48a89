"""A store writer SIGKILLed at one exact point of the journal's life.

``python journal_crash_worker.py STORE POINT``: commits batches (each a new run and its first
event), printing ``acknowledged N`` once commit N returned, and dies by SIGKILL at POINT:
``after-append`` (three batches only in the journal), ``mid-append`` (the fourth record half
written), ``mid-feed`` (feeding DuckDB, inside its transaction),
``mid-checkpoint`` (at shutdown, fed, before DuckDB's checkpoint), ``mid-fold`` (at shutdown,
checkpointed, before the journal is removed).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import duckdb

from pyworkflow_nb.store import Batch, DuckDBStore, RunRow, journal


def batch(n: int) -> Batch:
    run = RunRow(f"run-{n}", "flow", "v1", "running", created_at=n, updated_at=n)
    return Batch(events=[(f"run-{n}", 1, float(n), "workflow.started", None, None, None)],
                 new_runs={run.run_id: run.snapshot()})


def die(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def commit(store: DuckDBStore, n: int) -> None:
    store.commit(batch(n))
    print(f"acknowledged {n}", flush=True)


def main(path: str, point: str) -> None:
    store = DuckDBStore(path)
    for n in (1, 2, 3):
        commit(store, n)
    if point == "after-append":
        die()
    if point == "mid-append":
        def half_then_die(self: journal.Journal, position: int, payload: bytes) -> None:
            os.pwrite(self._fd, b"\x07" * 9 + payload[: len(payload) // 2], self.size)
            die()
        journal.Journal.append = half_then_die  # type: ignore[method-assign]
        commit(store, 4)
    if point == "mid-feed":
        writes = DuckDBStore._writes

        def writes_then_die(self: DuckDBStore, b: Batch) -> list[Any]:
            return [*writes(self, b), die]
        DuckDBStore._writes = writes_then_die  # type: ignore[method-assign]
        store.catch_up()
    if point == "mid-checkpoint":
        execute = duckdb.DuckDBPyConnection.execute

        class Dying:
            def __getattr__(self, name: str) -> Any:
                return getattr(store_con, name)

            def execute(self, query: str, *args: Any) -> Any:
                if query == "CHECKPOINT":
                    die()
                return execute(store_con, query, *args)
        store_con = store._con
        store._con = Dying()  # type: ignore[assignment]
        store.close()
    if point == "mid-fold":
        def close_then_die(self: journal.Journal, *, remove: bool) -> None:
            die()
        journal.Journal.close = close_then_die  # type: ignore[method-assign]
        store.close()
    raise SystemExit(f"unknown point {point}")


if __name__ == "__main__":
    main(*sys.argv[1:])
