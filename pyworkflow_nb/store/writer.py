"""The group-committing writer: one durable write for everything appended meanwhile.

Runs append events and run-row changes without waiting; whoever needs durability awaits
:meth:`Writer.durable`, which resolves once the batch holding everything appended so far is
committed (for a file store, one fsynced journal record). Batches are committed in append
order, so the store always holds a prefix of every run's history. The commit runs inline on the
engine's loop: measured here, handing it to a writer thread cost more (thread hops, GIL
contention on 2 cores) than the loop gained by running workflows meanwhile. A store whose
commit is a network round trip (PostgreSQL) commits on the feeder thread instead, in order,
so the loop goes on meanwhile. Journalled batches
reach DuckDB ``FEED_EVERY`` seconds later, many in one transaction, on a feeder thread (DuckDB
releases the GIL while it writes, and nothing waits for a feed; reads feed them sooner).

What nothing waits for yet (a run's first events, a step's ``step.started``, a status change)
is committed ``interval`` seconds later, or sooner with the next durable point: with
``durability="sync"`` a commit starts as soon as something waits for :meth:`durable`, so a
run's start, its first step's start and that step's result share one commit (a crash before
it loses a run nobody was told is durable, and re-runs a step nobody saw finish). With
``"relaxed"`` waiters wait for the interval too, and the engine does not wait before moving on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, Literal

from ..errors import StoreError
from .base import Batch, DefinitionRow, EventRow, EventStore, RunRow, ScheduleRow

Durability = Literal["sync", "relaxed"]
FEED_EVERY = 0.02  # how long journalled batches wait to be fed to the database together
# A batch is committed at once when its events hold this much data: a commit stays a few ms
# long however large step results are, so a crash in relaxed mode loses only recent steps.
BATCH_BYTES = 1 << 20


class Writer:
    """Batches appends from every run into one commit."""

    def __init__(self, store: EventStore, loop: asyncio.AbstractEventLoop, *,
                 durability: Durability = "sync", interval: float = 0.005,
                 on_commit: Callable[[float, int], None] | None = None) -> None:
        self.store = store
        self._on_commit = on_commit  # told each commit's wall time and its event count
        self.sync = durability == "sync"
        self._loop = loop
        self._interval = interval
        self._batch = Batch()
        self._pending: list[asyncio.Future[None]] = []
        self._timer: asyncio.Handle | None = None
        self._feed_timer: asyncio.Handle | None = None
        self._feeding: asyncio.Future[None] | None = None
        self._feeder = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="pyworkflow_nb-feed")
        # batches handed to the feeder thread to commit, oldest first (a store whose commit
        # is a network round trip commits off the loop: ``commits_off_loop``)
        self._in_flight: list[Batch] = []
        self._committing: asyncio.Future[None] | None = None  # the newest of them
        self._soon = False  # the pending commit is due now (someone waits), not in ``interval``
        self._since = 0.0  # loop time of the first append the pending commit holds
        self._bytes = 0  # event data the pending commit holds
        self.error: BaseException | None = None

    # -- appending (loop thread only) --------------------------------------------------------

    def event(self, row: EventRow) -> None:
        self._batch.events.append(row)
        self._bytes += len(row[6] or "")
        if self.error is None and (self._bytes > BATCH_BYTES or self._overdue()):
            self._kick()
        else:
            self._schedule()

    def run_created(self, run: RunRow) -> None:
        self._batch.new_runs[run.run_id] = run.snapshot()
        self._schedule()

    def run_changed(self, run: RunRow) -> None:
        if run.run_id in self._batch.new_runs:
            self._batch.new_runs[run.run_id] = run.snapshot()
        else:
            self._batch.changed_runs[run.run_id] = run.snapshot()
        self._schedule()

    def frame(self, run_id: str, step_id: str, frame: Any) -> None:
        """A step's DataFrame result, written as a table with the commit of its event."""
        self._batch.frames.append((run_id, step_id, frame))
        self._schedule()

    def definition(self, row: DefinitionRow) -> None:
        self._batch.definitions.append(row)
        self._schedule()

    def schedule_changed(self, row: ScheduleRow) -> None:
        self._batch.schedules[row.schedule_id] = row.snapshot()
        self._schedule()

    def for_workers(self, run_id: str) -> None:
        """Leave a new run (appended in this batch) for worker processes to execute."""
        self._batch.for_workers.append(run_id)
        self._schedule()

    def consume_message(self, message_id: int) -> None:
        """Delete an inbox message with the commit of what is appended next (what it did)."""
        self._batch.consumed.append(message_id)
        self._schedule()

    def schedule_deleted(self, schedule_id: str) -> None:
        self._batch.schedules[schedule_id] = None
        self._schedule()

    @property
    def idle(self) -> bool:
        """Nothing appended is waiting to be committed or being committed."""
        return not self._batch and not self._in_flight

    def history(self, run_id: str, stored: list[EventRow] | None = None) -> list[EventRow]:
        """A run's events: those in the store (``stored`` when already read), then those
        appended and not committed yet (loop thread). A batch committing off the loop may
        already be in the store: its events are not counted twice."""
        if stored is None:
            stored = self.store.load_events(run_id)
        last = stored[-1][1] if stored else -1
        pending = [e for batch in [*self._in_flight, self._batch] for e in batch.events
                   if e[0] == run_id and e[1] > last]
        return [*stored, *pending]

    # -- durability --------------------------------------------------------------------------

    def durable(self) -> asyncio.Future[None]:
        """A future that resolves when everything appended so far is committed.

        Each caller gets its own future, so cancelling one waiter never disturbs another.
        """
        fut = self._loop.create_future()
        if self.error is not None:
            fut.set_exception(self._broken())
        elif self._batch:
            self._pending.append(fut)
            if self.sync and not self._soon:
                self._reschedule(soon=True)
        elif self._in_flight:  # commits go in order: the newest one done means all are
            assert self._committing is not None
            self._committing.add_done_callback(lambda _done: self._settle(fut))
        else:
            fut.set_result(None)
        return fut

    def _settle(self, fut: asyncio.Future[None]) -> None:
        if fut.done():
            return
        if self.error is not None:
            fut.set_exception(self._broken())
        else:
            fut.set_result(None)

    def commit_soon(self) -> None:
        """In sync mode, commit what is appended on the next loop turn, with no one waiting."""
        if self.sync and self._batch and not self._soon and self.error is None:
            self._reschedule(soon=True)

    async def flush(self) -> None:
        """Commit everything appended so far, now, and wait for it."""
        fut = self.durable()
        self._kick()
        await fut

    def close(self) -> None:
        """Stop committing (after :meth:`flush`); closing the store feeds what is left."""
        for timer in (self._timer, self._feed_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._feed_timer = None
        self._feeder.shutdown(wait=True)

    # -- the commit cycle --------------------------------------------------------------------

    def _schedule(self) -> None:
        if self.error is not None:
            return
        if self._timer is None:
            self._since = self._loop.time()
            self._reschedule(soon=False)

    def _overdue(self) -> bool:
        """Relaxed: the pending commit's timer is late (a busy loop), so an event waiting in
        it would widen what a crash loses. Events only: a run row's status can wait."""
        return (not self.sync and self._timer is not None
                and self._loop.time() - self._since > self._interval)

    def _reschedule(self, *, soon: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._soon = soon
        if soon:
            self._timer = self._loop.call_soon(self._kick)
        else:
            self._timer = self._loop.call_later(self._interval, self._kick)

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._soon = False
        if not self._batch or self.error is not None:
            return
        batch, self._batch = self._batch, Batch()
        waiters, self._pending = self._pending, []
        self._bytes = 0
        began = time.perf_counter()
        if self.store.commits_off_loop:
            self._in_flight.append(batch)
            committing = self._loop.run_in_executor(self._feeder, self.store.commit, batch)
            committing.add_done_callback(
                lambda done: self._committed(batch, waiters, began, done.exception()))
            self._committing = committing
            return
        try:
            self.store.commit(batch)
        except Exception as exc:
            self._fail(exc, waiters)
            return
        self._committed(batch, waiters, began, None)

    def _committed(self, batch: Batch, waiters: list[asyncio.Future[None]], began: float,
                   exc: BaseException | None) -> None:
        if self._in_flight and self._in_flight[0] is batch:  # commits end in order
            self._in_flight.pop(0)
        if isinstance(exc, Exception):
            self._fail(exc, waiters)
            return
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - began, len(batch.events))
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        self._feed_later()

    def _feed_later(self) -> None:
        if self._feed_timer is None and self._feeding is None and self.store.behind:
            self._feed_timer = self._loop.call_later(FEED_EVERY, self._feed)

    def _feed(self) -> None:
        self._feed_timer = None
        self._feeding = self._loop.run_in_executor(self._feeder, self.store.catch_up)
        self._feeding.add_done_callback(self._fed)

    def _fed(self, feeding: asyncio.Future[None]) -> None:
        self._feeding = None
        if feeding.cancelled():
            return
        exc = feeding.exception()
        if isinstance(exc, Exception):
            self._fail(exc, [])
        elif self.error is None:
            self._feed_later()

    def _fail(self, exc: Exception, waiters: list[asyncio.Future[None]]) -> None:
        """The store is unusable: every waiter, now and later, learns why."""
        self.error = exc
        waiters, self._pending = [*waiters, *self._pending], []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(self._broken())

    def _broken(self) -> StoreError:
        err = StoreError(f"the store {self.store.path} could not be written: {self.error}")
        err.__cause__ = self.error
        return err
