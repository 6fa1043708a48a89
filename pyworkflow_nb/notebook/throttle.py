"""Coalesce bursts of requests into calls at most ``MIN_INTERVAL`` apart, on the engine's loop."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

__all__ = ["MIN_INTERVAL", "Throttle"]

#: Widgets update a page at most ten times a second.
MIN_INTERVAL = 0.1


class Throttle:
    """Runs ``fn`` once for any number of ``request()`` calls, never twice within ``interval``.

    The first request after a quiet spell runs at the loop's next turn; later ones wait out
    the interval. Call from the loop's thread.

    ``fn`` runs outside the requester's context (a run's task carries the context of the cell
    that started it): in ipykernel that makes what it sends belong to the request the kernel
    handles now, as a thread's output does, so a client that reads the current cell's
    messages (nbclient, a test) sees it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], None],
                 interval: float = MIN_INTERVAL) -> None:
        self.loop = loop
        self.fn = fn
        self.interval = interval
        self._last = -interval
        self._pending: asyncio.TimerHandle | None = None

    def request(self) -> None:
        """Ask for a call; does nothing when one is already planned."""
        if self._pending is None:
            wait = self._last + self.interval - time.monotonic()
            self._pending = self.loop.call_later(max(wait, 0.0), self.run_now,
                                                 context=contextvars.Context())

    def run_now(self) -> None:
        """Call ``fn`` now (dropping a planned call)."""
        self.cancel()
        self._last = time.monotonic()
        self.fn()

    def cancel(self) -> None:
        """Drop a planned call."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
