"""The PostgreSQL event store (psycopg 3): the DuckDB store's tables, columns and views on a
server that many processes can share.

A batch is one transaction; the keys (a run's events unique by ``(run_id, seq)``, a run by its
id) make a second writer of the same run fail instead of interleaving. DataFrames that steps
return are also written as tables (see ``pg_frames``).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidInput, StoreError
from ..history.vocabulary import CHILD_STARTED, TERMINAL_STATUSES
from . import pg_frames, user_sql
from .base import (
    Batch,
    DefinitionRow,
    EventRow,
    InboxRow,
    RunRow,
    ScheduleRow,
    not_upgraded,
)
from .pg_connection import ReadOnlyPgConnection
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

__all__ = ["PostgresStore", "Rows", "is_postgres_url"]

log = logging.getLogger("pyworkflow_nb")

SCHEMA_VERSION = 7  # the DuckDB store's tables and views (its 8 changed a view for DuckDB only)
PG_REVISION = 3  # PostgreSQL-only additions on top of it (1: leases, 2: inbox, 3: roles)
INBOX_CHANNEL = "pyworkflow_nb_inbox"  # NOTIFY channel: a message was posted (payload: run id)
RUNS_CHANNEL = "pyworkflow_nb_runs"  # NOTIFY channel: a run was left for workers (run id)
WORKERS = "workers"  # the owner of a run's lease while it waits for a worker to take it
LEASE_SECONDS = 30.0  # how long a process's hold on its runs lasts unless renewed
_RUN_SELECT = ", ".join(f"extract(epoch FROM {c})::float8" if c in RUN_TIMES else c
                        for c in RUN_COLUMNS)
_RUN_UPDATE = (f"UPDATE runs SET {', '.join(f'{c} = %s' for c in RUN_MUTABLE)} "
               "WHERE run_id = %s")
_EVENT_SELECT = "run_id, seq, extract(epoch FROM ts)::float8, type, step, attempt, data"
_SCHEDULE_SELECT = ", ".join(f"extract(epoch FROM {c})::float8" if c in SCHEDULE_TIMES else c
                             for c in SCHEDULE_COLUMNS)
_STATUS = RUN_COLUMNS.index("status")
_MIGRATION_LOCK = 7_466_226_301  # pg_advisory_xact_lock key: one migration at a time


def is_postgres_url(store: str) -> bool:
    """Whether a store setting names a PostgreSQL server rather than a DuckDB file."""
    return store.startswith(("postgresql://", "postgres://"))


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore:
    """Event store in a PostgreSQL database; see ``schema_pg.sql``."""

    commits_off_loop = True  # a commit is a round trip to the server

    def __init__(self, url: str, *, read_only: bool = False, holder: str | None = None) -> None:
        """``holder`` is accepted for parity with the DuckDB store: a server has no lock file
        to name its writer in."""
        try:
            import psycopg
        except ImportError:
            raise StoreError("a PostgreSQL store needs psycopg 3: pip install "
                             "'pyworkflow_nb[postgres]'") from None
        self.source = url  # the setting it was opened from; ``path`` hides its password
        self.path = _shown(url)
        self.read_only = read_only
        self.behind = False  # every commit is in the database when it returns
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_seconds = LEASE_SECONDS
        self._psycopg = psycopg
        self._lock = threading.RLock()
        self._con = self._session()
        self._closed = False
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    def _migrate(self) -> None:
        psycopg = self._psycopg
        with self._lock:
            try:
                row = self._con.execute(
                    "SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
            if row is not None and int(row[0]) == SCHEMA_VERSION and self._revision() >= \
                    PG_REVISION:
                return
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has store schema version {row[0]}, newer than this "
                    f"pyworkflow_nb understands ({SCHEMA_VERSION}); upgrade pyworkflow_nb.")
            tables = {t for (t,) in self._con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()").fetchall()}
            if tables and "pw_meta" not in tables:
                raise StoreError(
                    f"{self.path} is a PostgreSQL database but not a pyworkflow_nb "
                    f"store (it has tables {', '.join(sorted(tables)[:5])}); pyworkflow_nb "
                    "leaves it untouched. Point the store at a new database.")
            if self.read_only:
                raise StoreError(not_upgraded(self.path, int(row[0]) if row else 0,
                                             SCHEMA_VERSION))
            script = resources.files(__package__).joinpath("schema_pg.sql").read_text()
            with self._con.transaction():
                self._con.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                self._con.execute(script)
                self._con.cursor().executemany(
                    "INSERT INTO pw_meta VALUES (%s, %s) ON CONFLICT (key) "
                    "DO UPDATE SET value = excluded.value",
                    [("schema_version", str(SCHEMA_VERSION)),
                     ("pg_revision", str(PG_REVISION))])

    def _revision(self) -> int:
        row = self._con.execute("SELECT value FROM pw_meta WHERE key = 'pg_revision'").fetchone()
        return int(row[0]) if row is not None else 0

    # -- writing -------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write the batch in one transaction."""
        self._writable()
        psycopg = self._psycopg
        try:
            with self._lock, self._con.transaction():
                cur = self._con.cursor()
                self._check_leases(cur, batch)
                if batch.frames:
                    pg_frames.write(self._con, batch.frames)
                if batch.events:
                    cur.executemany("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                    [(r, s, timestamp(t), ty, st, a, d)
                                     for (r, s, t, ty, st, a, d) in batch.events])
                if batch.new_runs:
                    marks = ", ".join(["%s"] * len(RUN_COLUMNS))
                    cur.executemany(f"INSERT INTO runs VALUES ({marks})",
                                    [run_values(r) for r in batch.new_runs.values()])
                if batch.changed_runs:
                    cur.executemany(_RUN_UPDATE, [run_changes(r)
                                                  for r in batch.changed_runs.values()])
                if batch.definitions:
                    cur.executemany(
                        "INSERT INTO workflows VALUES (%s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (name, version) DO NOTHING",
                        [(d.name, d.version, d.kind, d.module, d.source, timestamp(d.defined_at))
                         for d in batch.definitions])
                if batch.schedules:
                    self._write_schedules(cur, batch.schedules)
                self._lease_new(cur, batch)
                if batch.consumed:
                    cur.execute("DELETE FROM inbox WHERE id = ANY(%s)", [batch.consumed])
        except psycopg.Error as exc:
            raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    def _check_leases(self, cur: Any, batch: Batch) -> None:
        """Refuse the batch when a run it writes is leased to another process (this one
        stalled past its lease and was taken over). The leases read stay locked until the
        commit, so a takeover waits for it and reads the history it wrote."""
        ids = sorted({e[0] for e in batch.events} | set(batch.changed_runs))
        if batch.schedules or any(run_id.startswith("schedule:") for run_id in ids):
            held = cur.execute("SELECT owner FROM roles WHERE role = 'scheduler' FOR SHARE"
                               ).fetchone()
            if held is not None and held[0] != self.owner:
                raise StoreError(
                    f"this process ({self.owner}) no longer runs the schedules of the store "
                    f"(now {held[0]}): it did not renew its role within "
                    f"{self.lease_seconds:g} s. Nothing of this batch was written; restart "
                    "this process.")
        if not ids:
            return
        held = cur.execute("SELECT run_id, owner FROM leases WHERE run_id = ANY(%s) "
                           "ORDER BY run_id FOR SHARE", [ids]).fetchall()
        lost = [f"{run_id} (now {owner})" for run_id, owner in held if owner != self.owner]
        if lost:
            raise StoreError(
                f"this process ({self.owner}) no longer holds the lease of {', '.join(lost)}: "
                f"it did not renew it within {self.lease_seconds:g} s and another process "
                "took the run over. Nothing of this batch was written; restart this process.")

    def _lease_new(self, cur: Any, batch: Batch) -> None:
        """Lease the batch's new (and revived) unfinished runs to this process; drop the
        leases of runs that ended."""
        if batch.for_workers:
            cur.execute("INSERT INTO leases SELECT id, %s, 'infinity' FROM unnest(%s::text[]) "
                        "AS id", [WORKERS, batch.for_workers])
            cur.execute("SELECT pg_notify(%s, id) FROM unnest(%s::text[]) AS id",
                        [RUNS_CHANNEL, batch.for_workers])
        rows = [*batch.new_runs.items(), *batch.changed_runs.items()]
        live = [run_id for run_id, row in rows if row[_STATUS] not in TERMINAL_STATUSES]
        ended = [run_id for run_id, row in rows if row[_STATUS] in TERMINAL_STATUSES]
        if live:
            cur.execute("INSERT INTO leases SELECT id, %s, now() + %s * interval '1 second' "
                        "FROM unnest(%s::text[]) AS id ON CONFLICT (run_id) DO NOTHING",
                        [self.owner, self.lease_seconds, live])
        if ended:
            cur.execute("DELETE FROM leases WHERE run_id = ANY(%s) AND owner = %s",
                        [ended, self.owner])

    def _write_schedules(self, cur: Any, rows: dict[str, tuple[Any, ...] | None]) -> None:
        cur.execute("DELETE FROM schedules WHERE schedule_id = ANY(%s)", [list(rows)])
        values = [schedule_values(row) for row in rows.values() if row is not None]
        if values:
            marks = ", ".join(["%s"] * len(SCHEDULE_COLUMNS))
            cur.executemany(f"INSERT INTO schedules VALUES ({marks})", values)

    def catch_up(self) -> None:
        """Nothing to do: a commit is in the database when it returns."""

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")

    # -- reading -------------------------------------------------------------------------------

    def _fetch(self, query: str, params: Any = None) -> list[Any]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() "
                             "again")
        with self._lock:
            return self._con.execute(query, params).fetchall()

    def load_events(self, run_id: str, after: int = -1) -> list[EventRow]:
        return self._fetch(f"SELECT {_EVENT_SELECT} FROM events WHERE run_id = %s AND seq > %s "
                           "ORDER BY seq", [run_id, after])

    def load_histories(self, run_ids: list[str]) -> dict[str, list[EventRow]]:
        rows = self._fetch(f"SELECT {_EVENT_SELECT} FROM events WHERE run_id = ANY(%s) "
                           "ORDER BY run_id, seq", [run_ids])
        return {run_id: list(group)
                for run_id, group in itertools.groupby(rows, key=lambda r: r[0])}

    def unfinished_histories(self) -> list[tuple[RunRow, list[EventRow]]]:
        runs = self._runs(f"WHERE status NOT IN {TERMINAL}", [], "ORDER BY created_at")
        if not runs:
            return []
        rows = self._fetch(
            f"SELECT {_EVENT_SELECT} FROM events WHERE run_id IN "
            f"(SELECT run_id FROM runs WHERE status NOT IN {TERMINAL}) ORDER BY run_id, seq")
        events = {run_id: list(group)
                  for run_id, group in itertools.groupby(rows, key=lambda r: r[0])}
        return [(run, events.get(run.run_id, [])) for run in runs]

    # -- leases -------------------------------------------------------------------------------

    def claim_histories(self, workflows: list[str], *, limit: int | None = None,
                        for_workers: bool = False) -> list[tuple[RunRow, list[EventRow]]]:
        """Lease to this process the unfinished top-level runs of ``workflows`` that no live
        process holds (no lease, or one expired; ``for_workers``: or one left for workers),
        at most ``limit``, oldest first, with their unfinished child runs, and return them
        with their histories.

        Rows are leased in run id order (a parent before its children), so two processes
        claiming at once never split a tree: the second waits on the parent's row, then
        finds its lease live and skips it."""
        self._writable()
        if not workflows:
            return []
        with self._lock, self._con.transaction():
            claimed = [run_id for (run_id,) in self._con.execute(
                f"""
                WITH roots AS (
                    SELECT r.run_id FROM runs r LEFT JOIN leases l ON l.run_id = r.run_id
                    WHERE r.status NOT IN {TERMINAL} AND r.parent_run_id IS NULL
                      AND r.workflow = ANY(%(workflows)s)
                      AND (l.run_id IS NULL OR (l.expires_at < now() AND l.owner <> %(me)s)
                           OR (%(pool)s AND l.owner = %(workers)s))
                    ORDER BY r.created_at, r.run_id
                    LIMIT %(limit)s
                ), tree AS (
                    SELECT r.run_id FROM runs r JOIN roots
                      ON r.run_id = roots.run_id OR starts_with(r.run_id, roots.run_id || '/')
                    WHERE r.status NOT IN {TERMINAL}
                )
                INSERT INTO leases
                SELECT run_id, %(me)s, now() + %(ttl)s * interval '1 second' FROM tree
                ORDER BY run_id
                ON CONFLICT (run_id) DO UPDATE
                    SET owner = excluded.owner, expires_at = excluded.expires_at
                    WHERE leases.expires_at < now()
                       OR (%(pool)s AND leases.owner = %(workers)s)
                RETURNING run_id""",
                {"workflows": workflows, "me": self.owner, "ttl": self.lease_seconds,
                 "limit": limit, "pool": for_workers, "workers": WORKERS}
            ).fetchall()]
        if not claimed:
            return []
        runs = self._runs("WHERE run_id = ANY(%s)", [claimed], "ORDER BY created_at")
        events = self.load_histories(claimed)
        return [(run, events.get(run.run_id, [])) for run in runs]

    def renew_leases(self) -> None:
        """Extend every lease this process holds by ``lease_seconds`` from now."""
        self._writable()
        with self._lock:
            self._con.execute("UPDATE leases SET expires_at = now() + %s * interval '1 second' "
                              "WHERE owner = %s", [self.lease_seconds, self.owner])

    # -- messages between processes ----------------------------------------------------------

    def post(self, run_id: str, kind: str, name: str | None, data: str | None) -> None:
        """Store a message for a run another process executes; the listening processes are
        notified when it commits."""
        self._writable()
        with self._lock, self._con.transaction():
            self._con.execute("INSERT INTO inbox (run_id, kind, name, data, sender) "
                              "VALUES (%s, %s, %s, %s, %s)",
                              [run_id, kind, name, data, self.owner])
            self._con.execute("SELECT pg_notify(%s, %s)", [INBOX_CHANNEL, run_id])

    def held_messages(self, *, scheduler: bool = False) -> list[InboxRow]:
        """The stored messages for the runs this process holds (and, ``scheduler``, those for
        the schedules), oldest first."""
        return [InboxRow(*row) for row in self._fetch(
            "SELECT id, run_id, kind, name, data, sender FROM inbox WHERE run_id IN "
            "(SELECT run_id FROM leases WHERE owner = %s) OR (%s AND kind = 'schedule') "
            "ORDER BY id", [self.owner, scheduler])]

    def listen(self, notified: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``notified(channel, run_id)`` on a thread of its own, with a connection of its
        own, for every message posted (``"inbox"``) and every run left for workers
        (``"runs"``); returns the function that stops it."""
        psycopg = self._psycopg
        con = psycopg.connect(self.source, autocommit=True)
        channels = {INBOX_CHANNEL: "inbox", RUNS_CHANNEL: "runs"}
        for channel in channels:
            con.execute(f"LISTEN {channel}")
        stop = threading.Event()

        def listening() -> None:
            try:
                while not stop.is_set():
                    for note in con.notifies(timeout=0.25):
                        notified(channels[note.channel], note.payload)
            except psycopg.Error as exc:
                if not stop.is_set():  # the periodic lease round still reads the inbox
                    log.warning("pyworkflow_nb: stopped listening to %s: %s", self.path, exc)
            finally:
                con.close()

        thread = threading.Thread(target=listening, name="pyworkflow_nb-listen", daemon=True)
        thread.start()

        def stop_listening() -> None:
            stop.set()
            thread.join(timeout=5)

        return stop_listening

    def release_leases(self) -> None:
        """Give up every lease (and role) this process holds, so others take over now."""
        self._writable()
        with self._lock, self._con.transaction():
            self._con.execute("DELETE FROM leases WHERE owner = %s", [self.owner])
            self._con.execute("DELETE FROM roles WHERE owner = %s", [self.owner])

    def hold_role(self, role: str) -> bool:
        """Take ``role`` for this process, or renew it, unless another live process has it."""
        self._writable()
        with self._lock:
            return self._con.execute(
                "INSERT INTO roles VALUES (%s, %s, now() + %s * interval '1 second') "
                "ON CONFLICT (role) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE roles.owner = excluded.owner OR roles.expires_at < now() "
                "RETURNING owner", [role, self.owner, self.lease_seconds]).fetchone() is not None

    def role_holder(self, role: str) -> str | None:
        """The process playing ``role`` now, if any."""
        rows = self._fetch("SELECT owner FROM roles WHERE role = %s AND expires_at >= now()",
                           [role])
        return rows[0][0] if rows else None

    def unfinished_schedule_runs(self) -> list[tuple[str, str]]:
        """``(schedule_id, run_id)`` of every unfinished run a schedule started."""
        return [(sid, run_id) for sid, run_id in self._fetch(
            f"SELECT schedule_id, run_id FROM runs WHERE schedule_id IS NOT NULL "
            f"AND status NOT IN {TERMINAL}")]

    def _runs(self, where: str, params: list[Any], tail: str = "") -> list[RunRow]:
        return [RunRow(*row) for row in
                self._fetch(f"SELECT {_RUN_SELECT} FROM runs {where} {tail}", params)]

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._runs("WHERE run_id = %s", [run_id])
        return rows[0] if rows else None

    def find_run(self, workflow: str, idempotency_key: str) -> RunRow | None:
        rows = self._runs("WHERE workflow = %s AND idempotency_key = %s",
                          [workflow, idempotency_key], "ORDER BY created_at LIMIT 1")
        return rows[0] if rows else None

    def list_runs(self, *, workflow: str | None = None, status: str | None = None,
                  limit: int | None = 100) -> list[RunRow]:
        where, params, tail = list_runs_filter(workflow, status, limit, "%s")
        return self._runs(where, params, tail)

    def known_versions(self) -> set[tuple[str, str]]:
        return {(n, v) for n, v in self._fetch("SELECT name, version FROM workflows")}

    def definitions(self, name: str | None = None) -> list[DefinitionRow]:
        """The recorded definitions of ``name`` (of every name when ``None``), oldest first."""
        rows = self._fetch("SELECT name, version, kind, module, source, "
                           "extract(epoch FROM defined_at)::float8 FROM workflows "
                           "WHERE %(name)s::text IS NULL OR name = %(name)s "
                           "ORDER BY defined_at, name", {"name": name})
        return [DefinitionRow(*r) for r in rows]

    def history_ids(self) -> list[str]:
        """Every id with events: runs, and schedules' own histories (``schedule:ID``)."""
        return [r for (r,) in self._fetch("SELECT DISTINCT run_id FROM events ORDER BY run_id")]

    def load_schedules(self) -> list[ScheduleRow]:
        return [ScheduleRow(*row) for row in self._fetch(
            f"SELECT {_SCHEDULE_SELECT} FROM schedules ORDER BY created_at, schedule_id")]

    def schedule_seqs(self) -> dict[str, int]:
        return dict(self._fetch(
            "SELECT substr(run_id, 10), max(seq) FROM events WHERE run_id LIKE 'schedule:%' "
            "GROUP BY run_id"))

    def meta(self, key: str) -> str | None:
        rows = self._fetch("SELECT value FROM pw_meta WHERE key = %s", [key])
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str | None) -> None:
        self._writable()
        with self._lock, self._con.transaction():
            self._con.execute("DELETE FROM pw_meta WHERE key = %s", [key])
            if value is not None:
                self._con.execute("INSERT INTO pw_meta VALUES (%s, %s)", [key, value])

    def unfinished_work(self) -> tuple[int, int]:
        ((runs, schedules),) = self._fetch(
            f"SELECT (SELECT count(*) FROM runs WHERE status NOT IN {TERMINAL}), "
            "(SELECT count(*) FROM schedules)")
        return int(runs), int(schedules)

    # -- maintenance ---------------------------------------------------------------------------

    def purge(self, statuses: list[str], finished_before: float | None,
              workflow: str | None) -> list[str]:
        """Delete finished runs and their events in one transaction; returns their ids
        (never a child whose parent is unfinished)."""
        self._writable()
        if not set(statuses) <= TERMINAL_STATUSES:
            raise ValueError(f"purge takes terminal statuses only, got {statuses}")
        clauses = ["status = ANY(%s)",
                   f"(parent_run_id IS NULL OR parent_run_id NOT IN "
                   f"(SELECT run_id FROM runs WHERE status NOT IN {TERMINAL}))"]
        params: list[Any] = [statuses]
        if finished_before is not None:
            clauses.append("finished_at < %s")
            params.append(timestamp(finished_before))
        if workflow is not None:
            clauses.append("workflow = %s")
            params.append(workflow)
        with self._lock, self._con.transaction():
            ids = [r for (r,) in self._con.execute(
                f"DELETE FROM runs WHERE {' AND '.join(clauses)} RETURNING run_id",
                params).fetchall()]
            self._con.execute("DELETE FROM events WHERE run_id = ANY(%s)", [ids])
            pg_frames.drop(self._con.cursor(), ids)
        return ids

    def archive_attempt(self, run_id: str, archive_id: str) -> None:
        """Rename ``run_id`` and its child runs to ``archive_id`` in one transaction."""
        self._writable()
        mine = "(run_id = %(old)s OR starts_with(run_id, %(old)s || '/'))"
        renamed = "%(new)s || substr(run_id, length(%(old)s) + 1)"
        params = {"old": run_id, "new": archive_id}
        child_id = json.dumps(run_id)[:-1] + "/"
        with self._lock, self._con.transaction():
            self._con.execute(f"UPDATE events SET run_id = {renamed} WHERE {mine}", params)
            self._con.execute(
                "UPDATE events SET data = replace(data::text, %(child)s, %(archived)s)::json "
                f"WHERE type = '{CHILD_STARTED}' AND (run_id = %(new)s OR "
                "starts_with(run_id, %(new)s || '/'))",
                {"new": archive_id, "child": f'"run_id":{child_id}',
                 "archived": f'"run_id":{json.dumps(archive_id)[:-1]}/'})
            self._con.execute(
                f"UPDATE runs SET run_id = {renamed}, "
                "attempt_of = CASE WHEN run_id = %(old)s THEN %(old)s ELSE attempt_of END, "
                "parent_run_id = CASE WHEN parent_run_id = %(old)s OR "
                "starts_with(parent_run_id, %(old)s || '/') "
                "THEN %(new)s || substr(parent_run_id, length(%(old)s) + 1) "
                f"ELSE parent_run_id END WHERE {mine}", params)
            pg_frames.rename(self._con.cursor(), run_id, archive_id)

    # -- reads the client makes ---------------------------------------------------------------

    def run_steps(self, run_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The ``steps`` view's columns and rows for one run."""
        return self._described("SELECT * FROM steps WHERE run_id = %s "
                               "ORDER BY started_at, step_id", [run_id])

    def newest_with_key(self, idempotency_key: str) -> str | None:
        rows = self._fetch("SELECT run_id FROM runs WHERE idempotency_key = %s "
                           "ORDER BY created_at DESC LIMIT 1", [idempotency_key])
        return rows[0][0] if rows else None

    def wait_states(self, run_id: str, event: str) -> set[str]:
        return {s for (s,) in self._fetch(
            "SELECT status FROM waits WHERE run_id = %s AND event = %s", [run_id, event])}

    def schedule_runs(self, schedule_id: str, limit: int) -> list[tuple[str, str, float | None]]:
        return [tuple(r) for r in self._fetch(
            "SELECT run_id, status, extract(epoch FROM scheduled_at)::float8 FROM runs "
            "WHERE schedule_id = %s ORDER BY scheduled_at DESC, created_at DESC LIMIT %s",
            [schedule_id, limit])]

    def _described(self, query: str, params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock:
            cur = self._con.execute(query, params)
            return [c.name for c in cur.description or []], cur.fetchall()

    def sql(self, query: str, params: Any = None) -> Rows:
        """User SQL, read-only: checked, then run in a read-only transaction. ``?`` and
        ``$name`` placeholders work as on the DuckDB store."""
        user_sql.check(query)
        text, bound = _placeholders(query, params)
        psycopg = self._psycopg
        with self._lock:
            try:
                with self._con.transaction():
                    self._con.execute("SET TRANSACTION READ ONLY")
                    cur = self._con.execute(text, bound)
                    columns = [c.name for c in cur.description or []]
                    return Rows(columns, cur.fetchall() if cur.description else [])
            except psycopg.errors.ReadOnlySqlTransaction:
                raise InvalidInput(f"write refused: {user_sql.WHY}") from None
            except psycopg.Error as exc:
                raise InvalidInput(f"SQL error: {exc}".strip()) from None

    def cursor(self) -> ReadOnlyPgConnection:
        """A read-only DB-API connection of its own to the store, for tools such as jupysql."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; call pw.configure() again")
        return ReadOnlyPgConnection(self._session("-c default_transaction_read_only=on"))

    def _session(self, options: str = "") -> Any:
        """A new autocommit connection to the store, in UTC, JSON read back as text."""
        from psycopg.types.string import TextLoader

        try:
            con = self._psycopg.connect(self.source, autocommit=True,
                                        options=f"-c TimeZone=UTC {options}".strip())
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}".strip()) from exc
        for json_type in ("json", "jsonb"):
            con.adapters.register_loader(json_type, TextLoader)
        return con

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._con.close()


class Rows:
    """What user SQL on a PostgreSQL store returns: the rows read, as a DuckDB result reads."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.description = [(c, None, None, None, None, None, None) for c in columns]
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def df(self) -> Any:
        """The rows as a pandas DataFrame."""
        import pandas

        return pandas.DataFrame.from_records(self._rows, columns=self.columns)

    def __len__(self) -> int:
        return len(self._rows)


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\?)|\$([A-Za-z_]\w*)|(%)")


def _placeholders(query: str, params: Any) -> tuple[str, Any]:
    """``query`` with DuckDB's ``?`` and ``$name`` placeholders in psycopg's spelling."""
    if params is None:
        return query, None

    def spell(match: re.Match[str]) -> str:
        if match.group(1):
            return "%s"
        if match.group(2):
            return f"%({match.group(2)})s"
        if match.group(3):
            return "%%"
        return match.group(0).replace("%", "%%")  # psycopg reads % inside literals too

    return _PLACEHOLDER.sub(spell, query), params
