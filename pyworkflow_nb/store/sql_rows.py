"""What both SQL stores share: the columns of runs and schedules, how a row's values are
written (epoch seconds as timestamps) and how ``list_runs`` filters."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from ..durations import utc_datetime
from ..errors import InvalidInput
from ..history.vocabulary import RUN_STATUSES, TERMINAL_STATUSES
from .base import RunRow, ScheduleRow

__all__ = ["RUN_COLUMNS", "RUN_MUTABLE", "RUN_TIMES", "SCHEDULE_COLUMNS", "SCHEDULE_TIMES",
           "TERMINAL", "list_runs_filter", "run_changes", "run_values", "schedule_values",
           "timestamp"]

RUN_COLUMNS = [f.name for f in fields(RunRow)]
RUN_TIMES = {"scheduled_at", "created_at", "started_at", "finished_at", "updated_at"}
# The columns a run's row changes after it is created; an update writes only these (DuckDB's
# update cost grows with the columns it sets: measured 1.8 -> 0.9 ms for a run's last update).
RUN_MUTABLE = ["version", "status", "result", "error", "finished_at", "updated_at"]
_RUN_MUTABLE_AT = [RUN_COLUMNS.index(c) for c in RUN_MUTABLE]
SCHEDULE_COLUMNS = [f.name for f in fields(ScheduleRow)]
SCHEDULE_TIMES = {"next_fire_at", "last_fire_at", "created_at", "updated_at"}
TERMINAL = "(" + ", ".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"


def timestamp(epoch: float | None) -> datetime | None:
    """Epoch seconds as the naive UTC timestamp both databases store (``None`` kept)."""
    return None if epoch is None else utc_datetime(epoch)


def run_values(row: tuple[Any, ...]) -> list[Any]:
    """A run row's values (``RunRow.snapshot()``) as written, in column order."""
    return [timestamp(v) if c in RUN_TIMES else v
            for c, v in zip(RUN_COLUMNS, row, strict=False)]


def run_changes(row: tuple[Any, ...]) -> list[Any]:
    """The mutable columns of a run row, then its run_id (an update's parameters)."""
    values = run_values(row)
    return [*(values[i] for i in _RUN_MUTABLE_AT), values[0]]


def schedule_values(row: tuple[Any, ...]) -> list[Any]:
    """A schedule row's values (``ScheduleRow.snapshot()``) as written, in column order."""
    return [timestamp(v) if c in SCHEDULE_TIMES else v
            for c, v in zip(SCHEDULE_COLUMNS, row, strict=True)]


def list_runs_filter(workflow: str | None, status: str | None, limit: int | None,
                     mark: str) -> tuple[str, list[Any], str]:
    """``list_runs``' arguments checked, as a WHERE clause (with ``mark`` as the parameter
    placeholder), its parameters and the ORDER BY / LIMIT tail: newest first."""
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown run status {status!r}: use one of "
                           + ", ".join(RUN_STATUSES))
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit < 1):
        raise InvalidInput(f"limit must be a whole number >= 1 (or None for all), "
                           f"got {limit!r}")
    clauses, params = [], []
    for column, value in (("workflow", workflow), ("status", status)):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    tail = "ORDER BY created_at DESC, run_id DESC"
    if limit is not None:
        tail += f" LIMIT {int(limit)}"
    return where, params, tail
