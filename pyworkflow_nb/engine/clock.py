"""Time as the engine sees it: the real clock, or a virtual one tests can move forward."""

from __future__ import annotations

import time


class Clock:
    """The real clock: epoch seconds from the system."""

    virtual = False

    def now(self) -> float:
        return time.time()


class VirtualClock(Clock):
    """A clock that only moves when told to (``pw.skip``)."""

    virtual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)

    def now(self) -> float:
        return self._now

    def set(self, when: float) -> None:
        self._now = max(self._now, when)
