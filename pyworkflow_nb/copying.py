"""``pw.copy_store(source, target)``: a store's histories into another store, either kind.

Runs, their events, the recorded definitions, the schedules and the tables of the DataFrames
steps returned go from a DuckDB file to a PostgreSQL database or back (or between two of a
kind), in one transaction: to take a production incident's runs into a notebook and replay
them there, or a notebook's runs to a shared server. The target may already hold other runs;
one it already holds is refused, and then nothing is copied.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput
from .runtime import open_store, runtime
from .store import Batch, DuckDBStore
from .store.postgres_store import PostgresStore

__all__ = ["CopyReport", "copy_store"]


@dataclass(repr=False)
class CopyReport:
    """What :func:`copy_store` copied."""

    source: str
    target: str
    runs: int
    events: int
    definitions: int
    schedules: int
    frames: int  # DataFrame tables (the ``frames`` view)

    def __str__(self) -> str:
        return (f"copied {self.runs} runs ({self.events} events), {self.definitions} "
                f"definitions, {self.schedules} schedules and {self.frames} frames from "
                f"{self.source} to {self.target}")

    __repr__ = __str__


def copy_store(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> CopyReport:
    """Copy every run, event, definition, schedule and frame table of ``source`` into
    ``target`` (a DuckDB path or a ``postgresql://`` URL each), atomically."""
    src_name, dst_name = os.fspath(source), os.fspath(target)
    if src_name == dst_name:
        raise InvalidInput(f"copy_store: the source and the target are both {src_name!r}")
    if runtime.engine is not None and runtime.config.store_path() == dst_name:
        raise InvalidInput(f"copy_store: {dst_name} is the store this engine has open; copy "
                           "into it after pw.shutdown(), or into another store")
    shared = runtime.store if runtime.store is not None and \
        runtime.store.source == src_name else None
    src = shared or open_store(src_name, read_only=True)
    try:
        dst = open_store(dst_name, read_only=False)
        try:
            report = _copy(src, dst)
        finally:
            dst.close()
    finally:
        if shared is None:
            src.close()
    return CopyReport(src_name, dst_name, *report)


def _copy(src: DuckDBStore | PostgresStore,
          dst: DuckDBStore | PostgresStore) -> tuple[int, int, int, int, int]:
    runs = {r.run_id: r for r in src.list_runs(limit=None)}
    ids = sorted(set(src.history_ids()) | set(runs))
    held = sorted((set(dst.history_ids()) | {r.run_id for r in dst.list_runs(limit=None)})
                  & set(ids))
    if held:
        more = f" and {len(held) - 5} more" if len(held) > 5 else ""
        raise InvalidInput(f"copy_store: {dst.path} already holds {', '.join(held[:5])}{more}; "
                           "nothing was copied (copy into another store, or purge them there)")
    known = dst.known_versions()
    definitions = [d for d in src.definitions() if (d.name, d.version) not in known]
    schedules: dict[str, tuple[Any, ...] | None] = {
        s.schedule_id: s.snapshot() for s in src.load_schedules()}
    histories = src.load_histories(ids)
    batch = Batch(events=[e for run_id in ids for e in histories.get(run_id, [])],
                  new_runs={run_id: row.snapshot() for run_id, row in runs.items()},
                  definitions=definitions, schedules=schedules, frames=_frames(src))
    dst.commit(batch)
    return len(runs), len(batch.events), len(definitions), len(schedules), len(batch.frames)


def _frames(src: DuckDBStore | PostgresStore) -> list[tuple[str, str, Any]]:
    """The source's frame tables as DataFrames, for the target to write as its own tables
    (their rows as SQL reads them: the steps' exact results travel in their events)."""
    listed = src.sql("SELECT run_id, step_id, table_name FROM frames "
                     "ORDER BY run_id, step_id").fetchall()
    if not listed:
        return []
    try:
        import pandas  # noqa: F401  (what .df() needs)
    except ImportError:
        logging.getLogger("pyworkflow_nb.frames").warning(
            "copy_store: pandas is not installed, so the %d frame tables of %s were not "
            "copied (the steps' results were): pip install pandas", len(listed), src.path)
        return []
    return [(run_id, step_id, src.sql(f"SELECT * FROM {table}").df())
            for run_id, step_id, table in listed]
