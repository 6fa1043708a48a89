"""Holding runs in a store several processes share: renew this process's leases, take over
the runs of processes that stopped renewing theirs.

Only a :class:`~pyworkflow_nb.store.SharedStore` (PostgreSQL) has leases. The engine claims
its first runs in :meth:`Engine.recover`; from then on, every third of a lease this keeps
the leases alive and claims the runs whose lease expired (their process died or stalled),
which the engine resumes from their history as a recovery does. Lease times are the
database server's, so the machines' clocks need not agree; they are real time, never the
engine's (possibly virtual) clock. Store calls run on a worker thread: they are round trips
to the server, which the loop never waits for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..store import EventRow, RunRow, SharedStore

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Leases"]

log = logging.getLogger("pyworkflow_nb")


class Leases:
    """Keeps an engine's runs leased in a shared store, and takes over expired ones."""

    def __init__(self, engine: Engine, store: SharedStore) -> None:
        self.engine, self.store = engine, store
        self._task: asyncio.Task[None] | None = None

    def claim(self) -> list[tuple[RunRow, list[EventRow]]]:
        """Lease the unfinished runs of the workflows defined here that no live process
        holds; returns them with their histories (blocking: for the first recovery)."""
        return self.store.claim_histories(sorted(self.engine.registry.workflows))

    def start(self) -> None:
        """Renew and take over from now on, every third of a lease."""
        if self._task is None:
            self._task = self.engine.loop.create_task(self._keep())

    async def _keep(self) -> None:
        loop = self.engine.loop
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            try:
                await loop.run_in_executor(None, self.store.renew_leases)
                claimed = await loop.run_in_executor(None, self.claim)
            except Exception as exc:  # the server is away: keep trying, commits will tell
                log.warning("pyworkflow_nb: could not renew leases in %s: %s",
                            self.store.path, exc)
                continue
            if self.engine.closing:
                return
            if claimed:
                self.engine.adopt_stored(claimed)
            if self.engine.inbox is not None:  # a notification may have been missed
                self.engine.inbox.drain_soon()

    async def close(self) -> None:
        """Stop renewing and give the leases up, so other processes take the runs now."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.engine.loop.run_in_executor(None, self.store.release_leases)
        except Exception as exc:
            log.warning("pyworkflow_nb: could not release leases: %s", exc)
