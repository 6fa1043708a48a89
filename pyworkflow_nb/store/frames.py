"""Step results that are DataFrames, kept as DuckDB tables so that SQL reaches their rows.

A pandas DataFrame a step returns is recorded in its ``step.completed`` event as it always
was (cloudpickled, so it round-trips exactly, replays anywhere and travels in exported
histories), and is also written as the table ``pw_frames."<run_id>/<step_id>"``. The table is
a copy for SQL: written just before the commit holding the step's result, in a statement of
its own, so a frame DuckDB cannot hold (or one over :data:`ROW_LIMIT` rows) costs its table,
never the run or the store. The ``frames`` view lists them; ``step_frame(run_id, step_id)``
reads one. :mod:`.pg_frames` is the PostgreSQL side; the limits and warnings are shared.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import duckdb

SCHEMA = "pw_frames"
ROW_LIMIT = 1_000_000
"""Frames with more rows stay in their event only: writing one blocks the engine's loop."""

_log = logging.getLogger("pyworkflow_nb.frames")


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame (told apart without importing pandas)."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.partition(".")[0] == "pandas"


def too_big(run_id: str, step_id: str, frame: Any) -> bool:
    """Whether ``frame`` has more rows than a table is written for (logged when so)."""
    if len(frame) <= ROW_LIMIT:
        return False
    _log.warning("the frame of step %s of run %r has %d rows, over the %d a table is written "
                 "for: SQL cannot read it (the step's result keeps it whole)", step_id, run_id,
                 len(frame), ROW_LIMIT)
    return True


def not_written(run_id: str, step_id: str, why: Exception) -> None:
    """Log that the frame of ``step_id`` got no table, and why."""
    _log.warning("the frame of step %s of run %r could not be written as a table (%s): SQL "
                 "cannot read it (the step's result keeps it whole)", step_id, run_id, why)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(run_id: str, step_id: str) -> str:
    """The qualified name of the table holding ``step_id``'s frame in ``run_id``."""
    return f"{SCHEMA}.{_quoted(f'{run_id}/{step_id}')}"


def write(cur: duckdb.DuckDBPyConnection, frames: Iterable[tuple[str, str, Any]]) -> None:
    """Write each ``(run_id, step_id, frame)`` as its table, one statement each; a frame
    that cannot be written is logged and left to its event."""
    for run_id, step_id, frame in frames:
        if too_big(run_id, step_id, frame):
            continue
        try:
            cur.register("pw_frame_in", frame)
            cur.execute(f"CREATE OR REPLACE TABLE {table_name(run_id, step_id)} AS "
                        "SELECT * FROM pw_frame_in")
        except Exception as exc:  # a column DuckDB cannot take: the table is what is lost
            not_written(run_id, step_id, exc)
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.unregister("pw_frame_in")


_TABLES = ("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'pw_frames' AND "
           "database_name = current_database() AND ")
_RUN_OF_TABLE = "left(table_name, length(table_name) - strpos(reverse(table_name), '/'))"


def drop(cur: duckdb.DuckDBPyConnection, run_ids: list[str]) -> None:
    """Drop the frame tables of exactly these runs (not of their child runs), inside the
    caller's transaction."""
    for (name,) in cur.execute(f"{_TABLES} list_contains(?, {_RUN_OF_TABLE})",
                               [run_ids]).fetchall():
        cur.execute(f"DROP TABLE {SCHEMA}.{_quoted(name)}")


def rename(cur: duckdb.DuckDBPyConnection, run_id: str, new_run_id: str) -> None:
    """Move the frame tables of ``run_id`` and its child runs under ``new_run_id``."""
    for (name,) in cur.execute(f"{_TABLES} starts_with(table_name, ?)",
                               [f"{run_id}/"]).fetchall():
        renamed = new_run_id + name[len(run_id):]
        cur.execute(f"ALTER TABLE {SCHEMA}.{_quoted(name)} RENAME TO {_quoted(renamed)}")
