"""Holding runs in a store several processes share: renew this process's leases, take over
the runs of processes that stopped renewing theirs, and (in a worker) take the runs left for
workers.

Only a :class:`~pyworkflow_nb.store.SharedStore` (PostgreSQL) has leases. The engine claims
its first runs in :meth:`Engine.recover`; from then on, every third of a lease this keeps
the leases alive and claims the runs whose lease expired (their process died or stalled),
which the engine resumes from their history as a recovery does. A worker also claims, at most
``CLAIM_BATCH`` at a time, the runs other processes started with ``executor="workers"``: when
the server notifies one, each round, and when its own runs thin out, so workers share them.
Lease times are the database server's, so the machines' clocks need not agree; they are real
time, never the engine's (possibly virtual) clock. Store calls run on a worker thread: they
are round trips to the server, which the loop never waits for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..store import EventRow, RunRow, SharedStore
from .one_at_a_time import OneAtATime
from .scheduler import SCHEDULER_ROLE

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["CLAIM_BATCH", "Leases"]

log = logging.getLogger("pyworkflow_nb")

#: The most top-level runs a worker takes in one claim (the first recovery takes all it can).
CLAIM_BATCH = 20


class Leases:
    """Keeps an engine's runs leased in a shared store, and takes over expired ones."""

    def __init__(self, engine: Engine, store: SharedStore) -> None:
        self.engine, self.store = engine, store
        self._task: asyncio.Task[None] | None = None
        self._claiming = OneAtATime(engine.loop, self._claim, f"claim runs in {store.path}")
        self._stop_listening: Callable[[], None] | None = None

    def claim(self, limit: int | None = None) -> list[tuple[RunRow, list[EventRow]]]:
        """Lease the unfinished runs of the workflows defined here that no live process
        holds (a worker: and those left for workers), at most ``limit``; returns them with
        their histories (blocking: call it off the loop, or for the first recovery)."""
        return self.store.claim_histories(sorted(self.engine.registry.workflows), limit=limit,
                                          for_workers=self.engine.worker)

    def start(self) -> None:
        """Renew and take over from now on, every third of a lease, and listen to the
        server's notifications (messages for runs here, runs left for workers)."""
        if self._task is None:
            self._task = self.engine.loop.create_task(self._keep())
            self._stop_listening = self.store.listen(self._notified)
            if self.engine.inbox is not None:
                self.engine.inbox.drain_soon()

    def _notified(self, channel: str, run_id: str) -> None:  # the listening thread
        loop = self.engine.loop
        if loop.is_closed():
            return
        if channel == "inbox" and self.engine.inbox is not None:
            loop.call_soon_threadsafe(self.engine.inbox.notified, run_id)
        elif channel == "runs" and self.engine.worker:
            loop.call_soon_threadsafe(self.claim_soon)

    async def _keep(self) -> None:
        loop = self.engine.loop
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            try:
                await loop.run_in_executor(None, self.store.renew_leases)
                leading = await loop.run_in_executor(None, self.store.hold_role,
                                                     SCHEDULER_ROLE)
                if leading:
                    unfinished = await loop.run_in_executor(
                        None, self.store.unfinished_schedule_runs)
            except Exception as exc:  # the server is away: keep trying, commits will tell
                log.warning("pyworkflow_nb: could not renew leases in %s: %s",
                            self.store.path, exc)
                continue
            if self.engine.closing:
                return
            scheduler = self.engine.scheduler
            if scheduler.started_at is not None:
                scheduler.lead(leading)
                if leading:
                    scheduler.sync_active(unfinished)
            self.claim_soon()
            if self.engine.inbox is not None:  # a notification may have been missed
                self.engine.inbox.drain_soon()

    def run_ended(self) -> None:
        """One of this engine's runs ended: a worker running few takes more."""
        if self.engine.worker and len(self.engine.runs) < CLAIM_BATCH // 2:
            self.claim_soon()

    def claim_soon(self) -> None:
        """Claim runs to take over (once more if a claim is under way)."""
        if not self.engine.closing and self._task is not None:
            self._claiming.request()

    async def _claim(self) -> bool:
        """One claim; whether to claim again at once (a worker found a full batch and still
        has room)."""
        engine = self.engine
        claimed = await engine.loop.run_in_executor(None, self.claim, CLAIM_BATCH)
        if engine.closing:
            return False
        engine.adopt_stored(claimed)
        return len(claimed) == CLAIM_BATCH and engine.worker and len(engine.runs) < CLAIM_BATCH

    async def close(self) -> None:
        """Stop renewing and give the leases up, so other processes take the runs now."""
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for task in (self._task, self._claiming.cancel()):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = None
        try:
            await self.engine.loop.run_in_executor(None, self.store.release_leases)
        except Exception as exc:
            log.warning("pyworkflow_nb: could not release leases: %s", exc)
