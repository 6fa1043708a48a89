"""What the engine needs from an event store, independent of the database behind it.

The engine never imports a database driver: it hands :class:`Batch` es to a store's
``commit`` (from its loop thread) and reads histories and runs back as plain tuples
and :class:`RunRow` s.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..history.rows import EventRow
from ..history.vocabulary import TERMINAL_STATUSES

__all__ = ["Batch", "DefinitionRow", "EventRow", "EventStore", "RunRow", "ScheduleRow"]

@dataclass(slots=True)  # one per run in memory: no __dict__
class RunRow:
    """One row of the ``runs`` table; times are epoch seconds."""

    run_id: str
    workflow: str
    version: str | None
    status: str
    input: str | None = None
    result: str | None = None
    error: str | None = None
    parent_run_id: str | None = None
    schedule_id: str | None = None
    scheduled_at: float | None = None
    idempotency_key: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    continued_from: str | None = None
    forked_from: str | None = None
    attempt_of: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def snapshot(self) -> tuple[Any, ...]:
        """The row's values in column order, frozen for the writer."""
        return (self.run_id, self.workflow, self.version, self.status, self.input, self.result,
                self.error, self.parent_run_id, self.schedule_id, self.scheduled_at,
                self.idempotency_key, self.created_at, self.started_at, self.finished_at,
                self.updated_at, self.continued_from, self.forked_from, self.attempt_of)


@dataclass
class DefinitionRow:
    """One workflow or step definition, identified by name and code hash."""

    name: str
    version: str
    kind: str
    module: str | None
    source: str | None
    defined_at: float


@dataclass
class ScheduleRow:
    """One row of the ``schedules`` table; times are epoch seconds, JSON columns are text."""

    schedule_id: str
    workflow: str
    status: str
    spec: str
    input: str | None = None
    note: str | None = None
    next_fire_at: float | None = None
    last_fire_at: float | None = None
    fire_count: int = 0
    last_run_id: str | None = None
    buffered: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def snapshot(self) -> tuple[Any, ...]:
        """The row's values in column order, frozen for the writer."""
        return (self.schedule_id, self.workflow, self.status, self.spec, self.input, self.note,
                self.next_fire_at, self.last_fire_at, self.fire_count, self.last_run_id,
                self.buffered, self.created_at, self.updated_at)


@dataclass
class Batch:
    """Everything one group commit writes, in one transaction."""

    events: list[EventRow] = field(default_factory=list)
    new_runs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    changed_runs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    definitions: list[DefinitionRow] = field(default_factory=list)
    # schedule_id -> the row's values (ScheduleRow.snapshot()), or None to delete it
    schedules: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)
    # (run_id, step_id, DataFrame): step results also written as tables (see frames.py)
    frames: list[tuple[str, str, Any]] = field(default_factory=list)
    # ids of inbox messages applied by this batch's events, deleted with them (shared stores)
    consumed: list[int] = field(default_factory=list)
    # new runs left for worker processes to take, not run here (shared stores)
    for_workers: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.new_runs or self.changed_runs or self.definitions
                    or self.schedules or self.frames or self.consumed or self.for_workers)

    def merge(self, later: Batch) -> None:
        """Add ``later``'s writes after this batch's, as if both were one batch."""
        self.events.extend(later.events)
        self.new_runs.update(later.new_runs)
        for run_id, row in later.changed_runs.items():
            if run_id in self.new_runs:
                self.new_runs[run_id] = row
            else:
                self.changed_runs[run_id] = row
        self.definitions.extend(later.definitions)
        self.schedules.update(later.schedules)
        self.frames.extend(later.frames)
        self.consumed.extend(later.consumed)
        self.for_workers.extend(later.for_workers)

    def encode(self) -> bytes:
        """The batch as bytes for the journal (it must hold no frames: they are not plain
        values and go straight to the database)."""
        assert not self.frames, "a batch with frames is not journalled"
        assert not (self.consumed or self.for_workers), "only shared stores have these"
        return pickle.dumps((self.events, self.new_runs, self.changed_runs,
                             [astuple(d) for d in self.definitions], self.schedules),
                            protocol=5)

    @classmethod
    def decode(cls, payload: bytes) -> Batch:
        """The batch :meth:`encode` wrote."""
        events, new_runs, changed_runs, definitions, schedules = _PlainUnpickler(
            io.BytesIO(payload)).load()
        return cls(events, new_runs, changed_runs, [DefinitionRow(*d) for d in definitions],
                   schedules)


class _PlainUnpickler(pickle.Unpickler):
    """Reads only plain values (tuples, lists, dicts, text, numbers, None): never code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a journal record names {module}.{name}: refused")


@dataclass(frozen=True)
class InboxRow:
    """A message another process stored for a run (see ``engine/inbox.py``)."""

    id: int
    run_id: str
    kind: str  # event, signal, cancel, terminate, pause, resume or schedule
    name: str | None  # the event's or signal's name
    data: str | None  # the payload, signal arguments or reason, encoded
    sender: str


@runtime_checkable
class SharedStore(Protocol):
    """A store several processes use at once: each unfinished run is leased to one of them
    (its ``owner``), which renews its leases while it lives; a commit touching a run leased
    to another process fails."""

    path: str
    owner: str  # this process's name in the leases
    lease_seconds: float  # how long a lease lasts unless renewed

    def claim_histories(self, workflows: list[str], *, limit: int | None = None,
                        for_workers: bool = False) -> list[tuple[RunRow, list[EventRow]]]:
        """Lease to this process the unfinished runs of ``workflows`` (with their child runs)
        that no live process holds (and, ``for_workers``, those left for workers), at most
        ``limit`` top-level runs, oldest first, and return them with their histories."""

    def renew_leases(self) -> None:
        """Extend every lease this process holds."""


    def release_leases(self) -> None:
        """Give up every lease this process holds (it stops), so others take over now."""

    def post(self, run_id: str, kind: str, name: str | None, data: str | None) -> None:
        """Store a message for a run another process executes, and notify the listeners."""

    def held_messages(self, *, scheduler: bool = False) -> list[InboxRow]:
        """The stored messages for the runs this process holds (and, ``scheduler``, those for
        the schedules), oldest first."""

    def hold_role(self, role: str) -> bool:
        """Take ``role`` for this process, or renew it, unless another live process has it."""

    def role_holder(self, role: str) -> str | None:
        """The process playing ``role`` now, if any."""

    def unfinished_schedule_runs(self) -> list[tuple[str, str]]:
        """``(schedule_id, run_id)`` of every unfinished run a schedule started."""

    def listen(self, notified: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``notified(channel, run_id)`` (on a thread of the store's) when a message is
        posted (channel ``"inbox"``) or a run is left for workers (``"runs"``); returns the
        function that stops listening."""


class EventStore(Protocol):
    """The store interface the engine and the writer use."""

    path: str  # for messages (a server URL without its password)
    source: str  # the setting the store was opened from
    read_only: bool
    #: a commit is a network round trip: the writer makes it on its thread, not the loop's
    commits_off_loop: bool

    def commit(self, batch: Batch) -> None:
        """Make a batch durable, atomically. Called by the writer, one batch at a time, in
        order: on the engine's loop thread, or on the writer's thread if
        ``commits_off_loop``."""

    @property
    def behind(self) -> bool:
        """Durable batches wait to be fed to the database (reads feed them first)."""

    def catch_up(self) -> None:
        """Feed the database every durable batch it does not hold yet."""

    def load_events(self, run_id: str, after: int = -1) -> list[EventRow]:
        """The committed events of one run (those after ``seq`` ``after``), in ``seq``
        order."""

    def load_histories(self, run_ids: list[str]) -> dict[str, list[EventRow]]:
        """The committed events of several runs (run id -> events in ``seq`` order), in one
        query."""

    def get_run(self, run_id: str) -> RunRow | None:
        """One run, or ``None``."""

    def find_run(self, workflow: str, idempotency_key: str) -> RunRow | None:
        """The run started for ``workflow`` with ``idempotency_key``, or ``None``."""

    def list_runs(self, *, workflow: str | None = None, status: str | None = None,
                  limit: int | None = 100) -> list[RunRow]:
        """Runs, newest first."""

    def unfinished_histories(self) -> list[tuple[RunRow, list[EventRow]]]:
        """Every unfinished run with its committed events, oldest run first, in one query."""

    def known_versions(self) -> set[tuple[str, str]]:
        """``(name, version)`` of every recorded definition."""

    def load_schedules(self) -> list[ScheduleRow]:
        """Every schedule, oldest first."""

    def schedule_seqs(self) -> dict[str, int]:
        """The last event ``seq`` of each schedule's event stream (``schedule:<id>``)."""

    def purge(self, statuses: list[str], finished_before: float | None,
              workflow: str | None) -> list[str]:
        """Delete finished runs (and their events) matching all filters; returns their ids."""

    def meta(self, key: str) -> str | None:
        """A value of the store's own ``pw_meta`` table, or ``None``."""

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with ``None``, remove) a ``pw_meta`` value."""

    def unfinished_work(self) -> tuple[int, int]:
        """How many unfinished runs and how many schedules the store holds."""

    def archive_attempt(self, run_id: str, archive_id: str) -> None:
        """Move a finished run, its events and its child runs' (``run_id/...``) to
        ``archive_id`` (``archive_id/...``), marking it an earlier attempt of ``run_id``."""

    def run_steps(self, run_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The ``steps`` view's columns and rows for one run."""

    def newest_with_key(self, idempotency_key: str) -> str | None:
        """The newest run started with ``idempotency_key``, whatever its workflow."""

    def wait_states(self, run_id: str, event: str) -> set[str]:
        """The statuses of a run's waits for ``event``."""

    def schedule_runs(self, schedule_id: str, limit: int) -> list[tuple[str, str, float | None]]:
        """A schedule's newest runs: id, status and nominal fire time."""

    def sql(self, query: str, params: Any = None) -> Any:
        """Run read-only user SQL on the store and return the driver's result object."""

    def cursor(self) -> Any:
        """A read-only DB-API connection to the store, for tools such as jupysql."""

    def close(self) -> None:
        """Close the store."""


def not_upgraded(path: str, version: int, current: int) -> str:
    """Why a store opened read-only cannot be read: it needs creating or upgrading first."""
    if not version:
        return f"{path} is not initialised and was opened read-only."
    return (f"{path} was written by an older pyworkflow_nb (store schema version {version}; "
            f"this one uses {current}) and was opened read-only: open it once for writing "
            "(without read_only=True) to upgrade it in place, then read it.")
