"""The embedded DuckDB event store: one file (or ``:memory:``), one writing process."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from ..errors import InvalidInput, StoreError, StoreLockedError
from ..history.vocabulary import CHILD_STARTED, RUN_STATUSES, TERMINAL_STATUSES
from . import frames, user_sql
from .base import Batch, DefinitionRow, EventRow, RunRow, ScheduleRow

# 2: the schedules table; 3: the index on events(run_id); 4: runs.continued_from; 5:
# runs.forked_from and runs.attempt_of. Older stores upgrade in place: schema.sql only adds
# objects.
SCHEMA_VERSION = 6
_EPOCH = datetime(1970, 1, 1)
_RUN_COLUMNS = [f.name for f in fields(RunRow)]
_RUN_TIME_COLUMNS = {"scheduled_at", "created_at", "started_at", "finished_at", "updated_at"}
_RUN_SELECT = ", ".join(
    f"epoch({c}) AS {c}" if c in _RUN_TIME_COLUMNS else c for c in _RUN_COLUMNS
)
# The columns a run's row changes after it is created; an update writes only these (DuckDB's
# update cost grows with the columns it sets: measured 1.8 -> 0.9 ms for a run's last update).
_RUN_MUTABLE = ["version", "status", "result", "error", "finished_at", "updated_at"]
_RUN_MUTABLE_AT = [_RUN_COLUMNS.index(c) for c in _RUN_MUTABLE]
_RUN_UPDATE = (f"UPDATE runs SET {', '.join(f'{c} = ?' for c in _RUN_MUTABLE)} "
               "WHERE run_id = ?")
_TERMINAL = "(" + ", ".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"
_EVENT_SELECT = "run_id, seq, epoch(ts), type, step, attempt, data"
_SCHEDULE_COLUMNS = [f.name for f in fields(ScheduleRow)]
_SCHEDULE_TIME_COLUMNS = {"next_fire_at", "last_fire_at", "created_at", "updated_at"}
_SCHEDULE_SELECT = ", ".join(
    f"epoch({c}) AS {c}" if c in _SCHEDULE_TIME_COLUMNS else c for c in _SCHEDULE_COLUMNS
)
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else _EPOCH + timedelta(seconds=epoch)


def _run_values(row: tuple[Any, ...]) -> list[Any]:
    return [_ts(v) if c in _RUN_TIME_COLUMNS else v
            for c, v in zip(_RUN_COLUMNS, row, strict=False)]


def _run_changes(row: tuple[Any, ...]) -> list[Any]:
    """The mutable columns of a run row, then its run_id (the order of ``_RUN_UPDATE``)."""
    values = _run_values(row)
    return [*(values[i] for i in _RUN_MUTABLE_AT), values[0]]


class DuckDBStore:
    """Event store in a DuckDB file; see ``schema.sql`` for the tables and views."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *,
                 read_only: bool = False, holder: str | None = None) -> None:
        """``holder`` says who opens it (``"the kernel of notebook x.ipynb"``): written beside
        the file while it is open for writing, so another process's lock error names it."""
        self.path = str(path)
        self.read_only = read_only
        self._con = _connect(self.path, read_only)
        self._holder_file = _write_holder(self.path, holder) if not read_only else None
        self._local = threading.local()
        self._closed = False
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        tables = {t for (t,) in self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()}
        if tables and "pw_meta" not in tables:
            raise StoreError(
                f"{self.path} is a DuckDB database but not a pyworkflow_nb store (it has tables "
                f"{', '.join(sorted(tables)[:5])}); pyworkflow_nb leaves it untouched. "
                "Point pw.configure(store=...) at a new file or an existing store."
            )
        version = 0
        if tables:
            row = self._con.execute(
                "SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema version {version}, newer than this "
                f"pyworkflow_nb understands ({SCHEMA_VERSION}); upgrade pyworkflow_nb."
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(f"{self.path} is not initialised and was opened read-only.")
        script = resources.files(__package__).joinpath("schema.sql").read_text()
        self._con.execute("BEGIN")
        try:
            self._con.execute(script)
            self._con.execute("DELETE FROM pw_meta WHERE key = 'schema_version'")
            self._con.execute("INSERT INTO pw_meta VALUES ('schema_version', ?)",
                              [str(SCHEMA_VERSION)])
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    # -- per-thread connections ----------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            if self._closed:
                raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
            cur = self._local.cursor = self._con.cursor()
        return cur

    def _appenders(self) -> dict[str, Any]:
        apps = getattr(self._local, "appenders", None)
        if apps is None:
            cur = self._cursor()
            apps = self._local.appenders = {
                "events": cur.appender("events"),
                "runs": cur.appender("runs"),
                "runs_update": cur.appender("runs", columns=[*_RUN_MUTABLE, "run_id"],
                                            action="update", key=["run_id"]),
                "workflows": cur.appender("workflows"),
            }
        return apps

    # -- writing -------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write the batch atomically, in one transaction.

        Every DuckDB statement costs about a millisecond here whatever it holds, so the batch is
        written with as few as possible: one per table, and no BEGIN/COMMIT when one is enough.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        writes = self._writes(batch)
        cur = self._cursor()
        if batch.frames:  # before the events that name them: a crash leaves no step without
            frames.write(cur, batch.frames)  # its table, at worst a table to write again
        if len(writes) == 1:
            writes[0](cur)
            return
        cur.execute("BEGIN")
        try:
            for write in writes:
                write(cur)
            cur.execute("COMMIT")
        except BaseException:
            for app in self._appenders().values():
                app.clear()
            cur.execute("ROLLBACK")
            raise

    def _writes(self, batch: Batch) -> list[Callable[[duckdb.DuckDBPyConnection], None]]:
        """One callable per statement the batch needs, in the order they must run."""
        apps = self._appenders()
        writes: list[Callable[[duckdb.DuckDBPyConnection], None]] = []

        def append(app: Any, rows: list[Any]) -> None:
            def write(_cur: duckdb.DuckDBPyConnection) -> None:
                app.append_rows(rows)
                self._flush(app)
            writes.append(write)

        if batch.events:
            append(apps["events"], [(r, s, _EPOCH + timedelta(seconds=t), ty, st, a, d)
                                    for (r, s, t, ty, st, a, d) in batch.events])
        if batch.new_runs:
            append(apps["runs"], [_run_values(r) for r in batch.new_runs.values()])
        if len(batch.changed_runs) == 1:  # one UPDATE by key costs less than the appender's join
            (row,) = batch.changed_runs.values()
            writes.append(lambda cur: self._execute(cur, _RUN_UPDATE, _run_changes(row)))
        elif batch.changed_runs:
            append(apps["runs_update"], [_run_changes(r) for r in batch.changed_runs.values()])
        if batch.definitions:
            append(apps["workflows"],
                   [(d.name, d.version, d.kind, d.module, d.source, _ts(d.defined_at))
                    for d in batch.definitions])
        if batch.schedules:
            schedules = batch.schedules
            writes.append(lambda cur: self._write_schedules(cur, schedules))
        return writes

    def _execute(self, cur: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> None:
        try:
            cur.execute(query, params)
        except duckdb.Error as exc:
            raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    def _write_schedules(self, cur: duckdb.DuckDBPyConnection,
                         rows: dict[str, tuple[Any, ...] | None]) -> None:
        cur.execute("DELETE FROM schedules WHERE list_contains(?, schedule_id)", [list(rows)])
        values = [[_ts(v) if c in _SCHEDULE_TIME_COLUMNS else v
                   for c, v in zip(_SCHEDULE_COLUMNS, row, strict=True)]
                  for row in rows.values() if row is not None]
        if values:
            marks = ", ".join("?" * len(_SCHEDULE_COLUMNS))
            cur.executemany(f"INSERT INTO schedules VALUES ({marks})", values)

    def _flush(self, appender: Any) -> None:
        try:
            appender.flush()
        except duckdb.Error as exc:
            appender.clear()
            raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    # -- reading -------------------------------------------------------------------------------

    def load_events(self, run_id: str) -> list[EventRow]:
        return self._cursor().execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE run_id = ? ORDER BY seq",
            [run_id]).fetchall()

    def unfinished_histories(self) -> list[tuple[RunRow, list[EventRow]]]:
        runs = self._runs(f"WHERE status NOT IN {_TERMINAL}", [], "ORDER BY created_at")
        if not runs:
            return []
        rows = self._cursor().execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE run_id IN "
            f"(SELECT run_id FROM runs WHERE status NOT IN {_TERMINAL}) "
            "ORDER BY run_id, seq").fetchall()
        events = {run_id: list(group)
                  for run_id, group in itertools.groupby(rows, key=lambda r: r[0])}
        return [(run, events.get(run.run_id, [])) for run in runs]

    def _runs(self, where: str, params: list[Any], tail: str = "") -> list[RunRow]:
        rows = self._cursor().execute(
            f"SELECT {_RUN_SELECT} FROM runs {where} {tail}", params).fetchall()
        return [RunRow(*row) for row in rows]

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._runs("WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    def find_run(self, workflow: str, idempotency_key: str) -> RunRow | None:
        rows = self._runs("WHERE workflow = ? AND idempotency_key = ?",
                          [workflow, idempotency_key], "ORDER BY created_at LIMIT 1")
        return rows[0] if rows else None

    def list_runs(self, *, workflow: str | None = None, status: str | None = None,
                  limit: int | None = 100) -> list[RunRow]:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidInput(f"unknown run status {status!r}: use one of "
                               + ", ".join(RUN_STATUSES))
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit < 1):
            raise InvalidInput(f"limit must be a whole number >= 1 (or None for all), "
                               f"got {limit!r}")
        clauses, params = [], []
        if workflow is not None:
            clauses.append("workflow = ?")
            params.append(workflow)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        tail = "ORDER BY created_at DESC, run_id DESC"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        return self._runs(where, params, tail)

    def known_versions(self) -> set[tuple[str, str]]:
        return set(self._cursor().execute("SELECT name, version FROM workflows").fetchall())

    def load_schedules(self) -> list[ScheduleRow]:
        rows = self._cursor().execute(
            f"SELECT {_SCHEDULE_SELECT} FROM schedules ORDER BY created_at, schedule_id"
        ).fetchall()
        return [ScheduleRow(*row) for row in rows]

    def schedule_seqs(self) -> dict[str, int]:
        return dict(self._cursor().execute(
            "SELECT run_id[10:], max(seq) FROM events WHERE run_id LIKE 'schedule:%' "
            "GROUP BY run_id").fetchall())

    def definitions(self, name: str) -> list[DefinitionRow]:
        rows = self._cursor().execute(
            "SELECT name, version, kind, module, source, epoch(defined_at) FROM workflows "
            "WHERE name = ? ORDER BY defined_at", [name]).fetchall()
        return [DefinitionRow(*r) for r in rows]

    def purge(self, statuses: list[str], finished_before: float | None,
              workflow: str | None) -> list[str]:
        """Delete finished runs and their events in one transaction; returns their ids.

        Only runs with a terminal status go, and never a child whose parent is unfinished
        (the parent may still need to read the child's result after a restart).
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        if not set(statuses) <= TERMINAL_STATUSES:
            raise ValueError(f"purge takes terminal statuses only, got {statuses}")
        clauses = ["status IN (SELECT unnest(?))",
                   f"(parent_run_id IS NULL OR parent_run_id NOT IN "
                   f"(SELECT run_id FROM runs WHERE status NOT IN {_TERMINAL}))"]
        params: list[Any] = [statuses]
        if finished_before is not None:
            clauses.append("finished_at < ?")
            params.append(_ts(finished_before))
        if workflow is not None:
            clauses.append("workflow = ?")
            params.append(workflow)
        doomed = f"SELECT run_id FROM runs WHERE {' AND '.join(clauses)}"
        cur = self._cursor()
        cur.execute("BEGIN")
        try:
            cur.execute(f"CREATE OR REPLACE TEMP TABLE pw_purge AS {doomed}", params)
            ids = [r for (r,) in cur.execute("SELECT run_id FROM pw_purge").fetchall()]
            cur.execute("DELETE FROM events WHERE run_id IN (SELECT run_id FROM pw_purge)")
            cur.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM pw_purge)")
            frames.drop(cur, ids)
            cur.execute("DROP TABLE pw_purge")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return ids

    def meta(self, key: str) -> str | None:
        row = self._cursor().execute("SELECT value FROM pw_meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        cur = self._cursor()
        cur.execute("BEGIN")
        try:
            cur.execute("DELETE FROM pw_meta WHERE key = ?", [key])
            if value is not None:
                cur.execute("INSERT INTO pw_meta VALUES (?, ?)", [key, value])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def unfinished_work(self) -> tuple[int, int]:
        row = self._cursor().execute(
            f"SELECT (SELECT count(*) FROM runs WHERE status NOT IN {_TERMINAL}), "
            "(SELECT count(*) FROM schedules)").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def archive_attempt(self, run_id: str, archive_id: str) -> None:
        """Rename ``run_id`` and its child runs to ``archive_id`` in one transaction, so the
        run id starts over while its earlier attempt stays readable (``runs.attempt_of``)."""
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        mine = "(run_id = $old OR starts_with(run_id, $old || '/'))"
        renamed = "$new || run_id[length($old) + 1:]"
        params = {"old": run_id, "new": archive_id}
        # a parent's child.started names its child's run id: follow the rename
        child_id = json.dumps(run_id)[:-1] + "/"
        cur = self._cursor()
        cur.execute("BEGIN")
        try:
            cur.execute(f"UPDATE events SET run_id = {renamed} WHERE {mine}", params)
            cur.execute(
                "UPDATE events SET data = replace(data::VARCHAR, $child, $archived)::JSON "
                f"WHERE type = '{CHILD_STARTED}' AND (run_id = $new OR "
                "starts_with(run_id, $new || '/'))",
                {"new": archive_id, "child": f'"run_id":{child_id}',
                 "archived": f'"run_id":{json.dumps(archive_id)[:-1]}/'})
            cur.execute(
                f"UPDATE runs SET run_id = {renamed}, "
                f"attempt_of = CASE WHEN run_id = $old THEN $old ELSE attempt_of END, "
                f"parent_run_id = CASE WHEN parent_run_id = $old OR "
                f"starts_with(parent_run_id, $old || '/') "
                f"THEN $new || parent_run_id[length($old) + 1:] ELSE parent_run_id END "
                f"WHERE {mine}", params)
            frames.rename(cur, run_id, archive_id)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def cursor(self) -> user_sql.ReadOnlyConnection:
        """A read-only DB-API connection to the store, for tools such as jupysql."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
        return user_sql.ReadOnlyConnection(self._con)

    def sql(self, query: str, params: Any = None) -> Any:
        """User SQL: read-only, each query on its own connection (see :mod:`.user_sql`)."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
        return user_sql.run(self._con, query, params)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.read_only and self.path != ":memory:":
            with contextlib.suppress(duckdb.Error):
                self._con.execute("CHECKPOINT")
        self._con.close()
        if self._holder_file is not None:
            with contextlib.suppress(OSError):
                self._holder_file.unlink()


def _holder_path(path: str) -> Path:
    return Path(f"{path}.holder")


def _write_holder(path: str, holder: str | None) -> Path | None:
    """Record who holds the store open for writing (best effort: a lock error's detail)."""
    if path == ":memory:" or holder is None:
        return None
    target = _holder_path(path)
    with contextlib.suppress(OSError):
        target.write_text(json.dumps({"pid": os.getpid(), "holder": holder,
                                      "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        return target
    return None


def _holder_of(path: str, pid: int | None) -> str | None:
    """Who holds the store, as its holder recorded it, if that record is the lock holder's."""
    try:
        record = json.loads(_holder_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or (pid is not None and record.get("pid") != pid):
        return None  # a record left by a process that died: not the holder
    return f"{record.get('holder')} (process {record.get('pid')}, since {record.get('since')})"


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    if path != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    elif read_only and path != ":memory:" and not Path(path).exists():
        raise StoreError(f"there is no store at {path} yet: nothing was recorded there. Open "
                         "the store you mean (pw.configure(store=...), --store, or "
                         "$PYWORKFLOW_NB_STORE).")
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            match = _LOCK_PID.search(text)
            pid = int(match.group(1)) if match else None
            holder = _holder_of(path, pid) or (f"process {pid}" if pid else "another process")
            raise StoreLockedError(
                f"the store {path} is held by {holder}: a DuckDB file has one writing process "
                f"at a time. Stop that process (pw.shutdown() or %unload_ext pyworkflow_nb "
                f"there), or use another store with pw.configure(store='other.duckdb'); once "
                f"the writer is gone, inspect it without writing using "
                f"pw.configure(store={path!r}, read_only=True).",
                path=path, pid=pid,
            ) from exc
        if ("not a valid DuckDB database" in text or "corrupt" in text.lower()
                or "Could not read enough bytes" in text):
            raise StoreError(
                f"{path} is not a pyworkflow_nb store: it exists but is not a valid DuckDB "
                "database file (corrupt, truncated, or another kind of file). It was left "
                "untouched; "
                "point pw.configure(store=...) at a new path."
            ) from exc
        raise StoreError(f"cannot open the store {path}: {text}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
