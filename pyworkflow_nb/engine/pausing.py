"""Pausing a run: it starts no new work, and what arrives meanwhile waits for the resume.

While a run is paused no command starts (a step, a retry of one, an attempt a restart
interrupted, a timer, a wait, a child run); running attempts finish and are recorded. Timers
already running fire and events arrive as usual and are recorded, but the body sees them only
once the run resumes, in the order they were recorded, so a replay takes the same path. A
paused run stays paused across restarts: the history says so, and a recovered run that
replays past its pause starts what it issues next only at the resume, as it would have live.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from ..history import vocabulary as ev

if TYPE_CHECKING:
    from .engine import Engine
    from .pending import Pending

class Pausing:
    """The pause state of a run, and the holding back of work while it lasts."""

    engine: Engine
    task: asyncio.Task[Any] | None
    paused: bool
    held: list[Pending]  # commands issued (or resumed live) while paused, in order
    active: int
    _resumed: asyncio.Future[None] | None

    @abstractmethod
    def emit(self, type_: str, step: str | None = None, attempt: int | None = None,
             data: str | None = None, ts: float | None = None) -> float: ...

    @abstractmethod
    def set_status(self, status: str) -> None: ...

    @abstractmethod
    def refresh_status(self) -> None: ...

    @abstractmethod
    def _activate_soon(self) -> None: ...

    def pause(self) -> None:
        """Record the pause and hold back new work from now on."""
        self.emit(ev.WORKFLOW_PAUSED, None, None, ev.EMPTY)
        self.paused = True
        self.set_status(ev.PAUSED)

    def resume(self) -> None:
        """Record the resume, start the work held back, and hand the body what arrived."""
        self.emit(ev.WORKFLOW_RESUMED, None, None, ev.EMPTY)
        self.paused = False
        if self.task is None:  # recovered, its workflow not defined yet
            self.set_status(ev.WAITING_FOR_DEFINITION)
        else:
            self.refresh_status()
        held, self.held = self.held, []
        for p in held:
            if not p.future.done():
                self.start_or_hold(p)
        if self._resumed is not None:
            self._resumed.set_result(None)
            self._resumed = None
        self._activate_soon()

    def start_or_hold(self, p: Pending) -> None:
        """Start ``p`` now, or at the resume if the run is paused."""
        if self.paused:
            self.held.append(p)
        else:
            p.started = True
            p.start(p)

    async def until_resumed(self) -> None:
        """Wait while the run is paused (a retry about to start its next attempt)."""
        if not self.paused:
            return
        if self._resumed is None:
            self._resumed = self.engine.loop.create_future()
        self.active -= 1  # waiting on the user, not working
        try:
            await asyncio.shield(self._resumed)
        finally:
            self.active += 1
