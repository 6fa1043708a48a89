"""The embedded DuckDB event store: one file (or ``:memory:``), one writing process.

A file store's durable point is its journal (:mod:`.journal`): :meth:`DuckDBStore.commit`
appends the batch there and queues it; the queue reaches DuckDB in one transaction when the
writer feeds it (:meth:`DuckDBStore.catch_up`), or before any read or maintenance call, so
readers always see every acknowledged batch. Each feed records the journal position it reaches,
in the same transaction, so reopening after a crash applies exactly the records DuckDB lacks.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from ..errors import StoreError, StoreLockedError
from ..history.vocabulary import CHILD_STARTED, TERMINAL_STATUSES
from . import frames, user_sql
from .base import Batch, DefinitionRow, EventRow, RunRow, ScheduleRow, not_upgraded
from .journal import Journal, journal_path, peek
from .sql_rows import (
    RUN_COLUMNS,
    RUN_MUTABLE,
    RUN_TIMES,
    SCHEDULE_COLUMNS,
    SCHEDULE_TIMES,
    TERMINAL,
    list_runs_filter,
    run_changes,
    run_values,
    schedule_values,
    timestamp,
)

# 2: the schedules table; 3: the index on events(run_id); 4: runs.continued_from; 5:
# runs.forked_from and runs.attempt_of; 6: the pw_frames schema; 7: frames.table_name; 8: the
# indexes on runs(run_id) and runs(idempotency_key), and a steps view that reads one run
# through the events index. Older stores upgrade in place: schema.sql only adds objects and
# replaces views.
SCHEMA_VERSION = 8
_RUN_SELECT = ", ".join(f"epoch({c}) AS {c}" if c in RUN_TIMES else c for c in RUN_COLUMNS)
_RUN_UPDATE = (f"UPDATE runs SET {', '.join(f'{c} = ?' for c in RUN_MUTABLE)} "
               "WHERE run_id = ?")
_EVENT_SELECT = "run_id, seq, epoch(ts), type, step, attempt, data"
_SCHEDULE_SELECT = ", ".join(
    f"epoch({c}) AS {c}" if c in SCHEDULE_TIMES else c for c in SCHEDULE_COLUMNS)
# The key alone picks the rows to read, so DuckDB reads them through runs_key (with a second
# condition on the table it would scan it).
FIND_BY_KEY = ("WITH keyed AS MATERIALIZED (SELECT * FROM runs WHERE idempotency_key = ?) "
               f"SELECT {_RUN_SELECT} FROM keyed WHERE workflow = ? ORDER BY created_at LIMIT 1")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
#: Up to this many runs, reading their events names them: 2,002 events of one run read in 4 ms
#: that way, against 18 ms through the join a subquery makes; 64 woken runs in a 1M-event store
#: in 9 ms, against 32 ms. Past it, the join costs less than the long list.
LISTED_RUNS = 64
_RUN_AND_SEQ = operator.itemgetter(0, 1)
_STORE_ID = "store_id"  # pw_meta: the id a journal names to say whose it is
_POSITION = "journal_position"  # pw_meta: the last journal record DuckDB holds
_POSITION_UPDATE = f"UPDATE pw_meta SET value = ? WHERE key = '{_POSITION}'"
# A journal all fed to DuckDB is emptied once it is this large (each emptying costs an fsync).
JOURNAL_RESET_BYTES = 4 << 20


class DuckDBStore:
    """Event store in a DuckDB file; see ``schema.sql`` for the tables and views."""

    commits_off_loop = False  # a commit is a journal append: cheaper than a thread hop

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *,
                 read_only: bool = False, holder: str | None = None) -> None:
        """``holder`` says who opens it (``"the kernel of notebook x.ipynb"``): written beside
        the file while it is open for writing, so another process's lock error names it."""
        self.path = str(path)
        self.source = self.path  # the setting it was opened from
        self.read_only = read_only
        self._con = _connect(self.path, read_only)
        self._holder_file = _write_holder(self.path, holder) if not read_only else None
        self._local = threading.local()
        self._closed = False
        self._lock = threading.RLock()  # one writer of DuckDB at a time, whatever the thread
        self._queue_lock = threading.Lock()  # the journal's end and the queue, together
        self._journal: Journal | None = None
        self._queued = Batch()  # durable in the journal, not yet in DuckDB
        self._feeding = False  # a batch taken from the queue is being written to DuckDB
        self._position = 0  # the last journal record DuckDB holds
        self._appended = 0  # the last journal record appended
        try:
            meta = self._migrate()
            if self.path != ":memory:":
                self._position = int(meta.get(_POSITION) or 0)
                if not read_only:
                    self._journal = self._open_journal(meta.get(_STORE_ID))
                elif self._unfed_journal():
                    self._con.close()
                    self._fold_journal()
                    self._con = _connect(self.path, read_only)
        except BaseException:
            self._con.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _migrate(self) -> dict[str, str]:
        """Bring the schema up to date; returns ``pw_meta`` as it then is."""
        meta: dict[str, str] = {}
        with contextlib.suppress(duckdb.CatalogException):  # a current store: one lookup
            meta = self._read_meta()
        version = int(meta.get("schema_version", 0))
        if version == SCHEMA_VERSION:
            return meta
        tables = {t for (t,) in self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()}
        if tables and "pw_meta" not in tables:
            raise StoreError(
                f"{self.path} is a DuckDB database but not a pyworkflow_nb store (it has tables "
                f"{', '.join(sorted(tables)[:5])}); pyworkflow_nb leaves it untouched. "
                "Point pw.configure(store=...) at a new file or an existing store."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema version {version}, newer than this "
                f"pyworkflow_nb understands ({SCHEMA_VERSION}); upgrade pyworkflow_nb."
            )
        if self.read_only:
            raise StoreError(not_upgraded(self.path, version, SCHEMA_VERSION))
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
        return self._read_meta()

    def _read_meta(self) -> dict[str, str]:
        return dict(self._con.execute("SELECT key, value FROM pw_meta").fetchall())

    def _open_journal(self, store_id: str | None) -> Journal:
        """Open the journal, feeding DuckDB the records it lacks (a crash left them)."""
        if store_id is None:
            store_id = uuid.uuid4().hex
            self._con.execute("INSERT INTO pw_meta VALUES (?, ?), (?, '0')",
                              [_STORE_ID, store_id, _POSITION])
        journal = Journal.open(journal_path(self.path), bytes.fromhex(store_id))
        try:
            unfed = self._unfed(journal.recovered, journal.path)
            if unfed:
                batch = Batch()
                for _, payload in unfed:
                    batch.merge(_decode(payload, journal.path))
                self._write(batch, unfed[-1][0])
                self._position = unfed[-1][0]
            if journal.recovered:
                journal.reset()
        except BaseException:
            journal.close(remove=False)
            raise
        self._appended = self._position
        return journal

    def _unfed(self, records: list[tuple[int, bytes]], path: Path) -> list[tuple[int, bytes]]:
        """The records past DuckDB's position, checked to continue it without a gap."""
        unfed = [(p, payload) for p, payload in records if p > self._position]
        expected = self._position + 1
        for position, _ in unfed:
            if position != expected:
                raise StoreError(
                    f"the journal {path} does not continue the store {self.path}: the store "
                    f"holds its records up to {self._position} and the journal goes on with "
                    f"record {position}, not {expected} (the journal or the DuckDB file was "
                    "copied from another time). Nothing of it was applied and it was left "
                    "untouched; move it away to open the store without it.")
            expected += 1
        return unfed

    def _unfed_journal(self) -> int:
        """How many records of this store's journal DuckDB lacks (a writer crashed)."""
        found = peek(journal_path(self.path))
        if found is None or found[0].hex() != self.meta(_STORE_ID):
            return 0
        return sum(1 for p, _ in found[1] if p > self._position)

    def _fold_journal(self) -> None:
        """Before reading a store its crashed writer left, take in what it acknowledged: as
        the writer's next open would, then the store is one DuckDB file again."""
        try:
            DuckDBStore(self.path).close()
        except StoreError as exc:
            raise StoreError(
                f"the store {self.path} holds acknowledged work in its journal "
                f"{journal_path(self.path)} that is not in the DuckDB file yet (its writer "
                "stopped without pw.shutdown()), and it could not be folded in to read it: "
                f"{exc}") from exc

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
                "runs_update": cur.appender("runs", columns=[*RUN_MUTABLE, "run_id"],
                                            action="update", key=["run_id"]),
                "workflows": cur.appender("workflows"),
            }
        return apps

    # -- writing -------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Make the batch durable, atomically: one journal record, fed to DuckDB later.

        A batch holding frames (tables, not plain values), and every batch of a store without
        a journal (``:memory:``), is written to DuckDB at once, after what is queued.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        if self._journal is None or batch.frames:
            with self._lock:
                self._feed()
                self._write(batch, None)
            return
        with self._queue_lock:  # never waits for DuckDB: a feed holds this only briefly
            self._journal.append(self._appended + 1, batch.encode())
            self._appended += 1
            self._queued.merge(batch)

    @property
    def behind(self) -> bool:
        return bool(self._queued) or self._feeding

    def catch_up(self) -> None:
        """Feed DuckDB every journalled batch it does not hold yet, in one transaction.

        Safe from any thread; a read on one thread waits for a feed under way on another.
        """
        if not self._queued and not self._feeding:
            return
        with self._lock:
            self._feed()

    def _feed(self) -> None:
        """Write the queue to DuckDB with the journal position it reaches (``_lock`` held).

        Appends go on meanwhile, into a new queue. On failure the batch goes back to the
        queue's head: still durable in the journal, fed next time.
        """
        with self._queue_lock:
            if not self._queued:
                return
            self._feeding = True  # before the swap: a reader that sees the queue empty sees this
            batch, self._queued = self._queued, Batch()
            upto = self._appended
        try:
            self._write(batch, upto)
            self._position = upto
        except BaseException:
            with self._queue_lock:
                batch.merge(self._queued)
                self._queued = batch
            raise
        finally:
            self._feeding = False
        with self._queue_lock:
            if (not self._queued and self._journal is not None
                    and self._journal.size > JOURNAL_RESET_BYTES):
                self._journal.reset()

    def _write(self, batch: Batch, position: int | None) -> None:
        """Write the batch to DuckDB in one transaction, with the journal ``position`` it
        reaches.

        Every DuckDB statement costs about half a millisecond here whatever it holds, so the
        batch is written with as few as possible: one per table, and no BEGIN/COMMIT when one is
        enough.
        """
        writes = self._writes(batch)
        if position is not None and position != self._position:
            def record_position(cur: duckdb.DuckDBPyConnection) -> None:
                cur.execute(_POSITION_UPDATE, [str(position)])
            writes.append(record_position)
        cur = self._cursor()
        if batch.frames:  # before the events that name them: a crash leaves no step without
            frames.write(cur, batch.frames)  # its table, at worst a table to write again
        if not writes:
            return
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

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in a transaction that commits if the block ends normally, as the only
        writer of DuckDB meanwhile."""
        with self._lock:
            cur = self._cursor()
            cur.execute("BEGIN")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
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
            append(apps["events"], [(r, s, timestamp(t), ty, st, a, d)
                                    for (r, s, t, ty, st, a, d) in batch.events])
        if batch.new_runs:
            append(apps["runs"], [run_values(r) for r in batch.new_runs.values()])
        if len(batch.changed_runs) == 1:  # one UPDATE by key costs less than the appender's join
            (row,) = batch.changed_runs.values()
            writes.append(lambda cur: self._execute(cur, _RUN_UPDATE, run_changes(row)))
        elif batch.changed_runs:
            append(apps["runs_update"], [run_changes(r) for r in batch.changed_runs.values()])
        if batch.definitions:
            append(apps["workflows"],
                   [(d.name, d.version, d.kind, d.module, d.source, timestamp(d.defined_at))
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
        values = [schedule_values(row) for row in rows.values() if row is not None]
        if values:
            marks = ", ".join("?" * len(SCHEDULE_COLUMNS))
            cur.executemany(f"INSERT INTO schedules VALUES ({marks})", values)

    def _flush(self, appender: Any) -> None:
        try:
            appender.flush()
        except duckdb.Error as exc:
            appender.clear()
            raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    # -- reading -------------------------------------------------------------------------------

    def load_events(self, run_id: str, after: int = -1) -> list[EventRow]:
        self.catch_up()
        return self._cursor().execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
            [run_id, after]).fetchall()

    def load_histories(self, run_ids: list[str]) -> dict[str, list[EventRow]]:
        self.catch_up()
        if not run_ids:
            return {}
        if len(run_ids) <= LISTED_RUNS:
            return self._events_of(_listed(len(run_ids)), list(run_ids))
        return self._events_of("IN (SELECT unnest(?))", [run_ids])

    def unfinished_histories(self) -> list[tuple[RunRow, list[EventRow]]]:
        self.catch_up()
        runs = self._runs(f"WHERE status NOT IN {TERMINAL}", [], "ORDER BY created_at")
        if not runs:
            return []
        if len(runs) <= LISTED_RUNS:
            events = self._events_of(_listed(len(runs)), [run.run_id for run in runs])
        else:
            events = self._events_of(
                f"IN (SELECT run_id FROM runs WHERE status NOT IN {TERMINAL})", [])
        return [(run, events.get(run.run_id, [])) for run in runs]

    def _events_of(self, which: str, params: list[Any]) -> dict[str, list[EventRow]]:
        """The events of the runs ``run_id {which}`` picks, by run, in order."""
        rows = self._cursor().execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE run_id {which}", params).fetchall()
        rows.sort(key=_RUN_AND_SEQ)  # cheaper here than an ORDER BY
        return {run_id: list(group)
                for run_id, group in itertools.groupby(rows, key=lambda r: r[0])}

    def _runs(self, where: str, params: list[Any], tail: str = "") -> list[RunRow]:
        self.catch_up()
        rows = self._cursor().execute(
            f"SELECT {_RUN_SELECT} FROM runs {where} {tail}", params).fetchall()
        return [RunRow(*row) for row in rows]

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._runs("WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    def find_run(self, workflow: str, idempotency_key: str) -> RunRow | None:
        self.catch_up()
        row = self._cursor().execute(FIND_BY_KEY, [idempotency_key, workflow]).fetchone()
        return None if row is None else RunRow(*row)

    def list_runs(self, *, workflow: str | None = None, status: str | None = None,
                  limit: int | None = 100) -> list[RunRow]:
        where, params, tail = list_runs_filter(workflow, status, limit, "?")
        return self._runs(where, params, tail)

    def known_versions(self) -> set[tuple[str, str]]:
        self.catch_up()
        return set(self._cursor().execute("SELECT name, version FROM workflows").fetchall())

    def load_schedules(self) -> list[ScheduleRow]:
        self.catch_up()
        rows = self._cursor().execute(
            f"SELECT {_SCHEDULE_SELECT} FROM schedules ORDER BY created_at, schedule_id"
        ).fetchall()
        return [ScheduleRow(*row) for row in rows]

    def schedule_seqs(self) -> dict[str, int]:
        self.catch_up()
        return dict(self._cursor().execute(
            "SELECT run_id[10:], max(seq) FROM events WHERE run_id LIKE 'schedule:%' "
            "GROUP BY run_id").fetchall())

    def definitions(self, name: str | None = None) -> list[DefinitionRow]:
        """The recorded definitions of ``name`` (of every name when ``None``), oldest first."""
        self.catch_up()
        rows = self._cursor().execute(
            "SELECT name, version, kind, module, source, epoch(defined_at) FROM workflows "
            "WHERE ? IS NULL OR name = ? ORDER BY defined_at, name", [name, name]).fetchall()
        return [DefinitionRow(*r) for r in rows]

    def history_ids(self) -> list[str]:
        """Every id with events: runs, and schedules' own histories (``schedule:ID``)."""
        self.catch_up()
        return [r for (r,) in self._cursor().execute(
            "SELECT DISTINCT run_id FROM events ORDER BY run_id").fetchall()]

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
                   f"(SELECT run_id FROM runs WHERE status NOT IN {TERMINAL}))"]
        params: list[Any] = [statuses]
        if finished_before is not None:
            clauses.append("finished_at < ?")
            params.append(timestamp(finished_before))
        if workflow is not None:
            clauses.append("workflow = ?")
            params.append(workflow)
        doomed = f"SELECT run_id FROM runs WHERE {' AND '.join(clauses)}"
        self.catch_up()
        with self._transaction() as cur:
            cur.execute(f"CREATE OR REPLACE TEMP TABLE pw_purge AS {doomed}", params)
            ids = [r for (r,) in cur.execute("SELECT run_id FROM pw_purge").fetchall()]
            cur.execute("DELETE FROM events WHERE run_id IN (SELECT run_id FROM pw_purge)")
            cur.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM pw_purge)")
            frames.drop(cur, ids)
            cur.execute("DROP TABLE pw_purge")
        return ids

    def meta(self, key: str) -> str | None:
        row = self._cursor().execute("SELECT value FROM pw_meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        with self._transaction() as cur:
            cur.execute("DELETE FROM pw_meta WHERE key = ?", [key])
            if value is not None:
                cur.execute("INSERT INTO pw_meta VALUES (?, ?)", [key, value])

    def unfinished_work(self) -> tuple[int, int]:
        self.catch_up()
        row = self._cursor().execute(
            f"SELECT (SELECT count(*) FROM runs WHERE status NOT IN {TERMINAL}), "
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
        self.catch_up()
        with self._transaction() as cur:
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

    # -- reads the client makes ---------------------------------------------------------------

    def run_steps(self, run_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The ``steps`` view's columns and rows for one run."""
        self.catch_up()
        cur = self._cursor().execute(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY started_at, step_id", [run_id])
        return [c[0] for c in cur.description], cur.fetchall()

    def newest_with_key(self, idempotency_key: str) -> str | None:
        """The newest run started with ``idempotency_key``, whatever its workflow."""
        self.catch_up()
        row = self._cursor().execute(
            "SELECT run_id FROM runs WHERE idempotency_key = ? ORDER BY created_at DESC "
            "LIMIT 1", [idempotency_key]).fetchone()
        return None if row is None else str(row[0])

    def wait_states(self, run_id: str, event: str) -> set[str]:
        """The statuses of a run's waits for ``event``."""
        self.catch_up()
        return {s for (s,) in self._cursor().execute(
            "SELECT status FROM waits WHERE run_id = ? AND event = ?",
            [run_id, event]).fetchall()}

    def schedule_runs(self, schedule_id: str, limit: int) -> list[tuple[str, str, float | None]]:
        """A schedule's newest runs: id, status and nominal fire time."""
        self.catch_up()
        return self._cursor().execute(
            "SELECT run_id, status, epoch(scheduled_at) FROM runs WHERE schedule_id = ? "
            "ORDER BY scheduled_at DESC, created_at DESC LIMIT ?", [schedule_id, limit]
        ).fetchall()

    def cursor(self) -> user_sql.ReadOnlyConnection:
        """A read-only DB-API connection to the store, for tools such as jupysql."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
        return user_sql.ReadOnlyConnection(self._con, before=self.catch_up)

    def sql(self, query: str, params: Any = None) -> Any:
        """User SQL: read-only, each query on its own connection (see :mod:`.user_sql`)."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
        self.catch_up()
        return user_sql.run(self._con, query, params)

    def close(self) -> None:
        if self._closed:
            return
        fed = True
        try:
            self.catch_up()
        except Exception:
            fed = False  # what the journal holds stays there: the next open applies it
            raise
        finally:
            self._closed = True
            if fed and not self.read_only and self.path != ":memory:":
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("CHECKPOINT")
            self._con.close()
            if self._journal is not None:
                self._journal.close(remove=fed)
        if self._holder_file is not None:
            with contextlib.suppress(OSError):
                self._holder_file.unlink()


def _listed(count: int) -> str:
    """``IN (?, ?, ...)`` for ``count`` values."""
    return f"IN ({', '.join('?' * count)})"


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


def _decode(payload: bytes, path: Path) -> Batch:
    try:
        return Batch.decode(payload)
    except Exception as exc:
        raise StoreError(
            f"a record of the journal {path} cannot be read ({exc}): it was not written by "
            "this version of pyworkflow_nb. Nothing of it was applied and it was left "
            "untouched; open the store with the version that wrote it.") from exc
