"""Durable timers of every run on one heap, with a single loop timer for the earliest.

10,000 sleeping runs cost 10,000 heap entries and futures, not 10,000 asyncio timers. With
the virtual clock nothing is scheduled on the loop: :meth:`Timers.fire_due` fires what the
clock has reached.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from .clock import Clock


class Timers:
    """A heap of ``(deadline, seq, future)``; futures resolve when the deadline passes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock, *,
                 on_lag: Callable[[float], None] | None = None) -> None:
        self.loop = loop
        self.clock = clock
        self._on_lag = on_lag  # told how late each wait fired, on the real clock
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._discarded = 0  # cancelled waits still in the heap (see discard)

    def __len__(self) -> int:
        return len(self._heap)

    def pending(self) -> int:
        """How many waits have not fired (nor been cancelled) yet."""
        return sum(not fut.done() for _, _, fut in self._heap)

    def wait(self, deadline: float) -> asyncio.Future[None]:
        """A future resolved once the clock reaches ``deadline`` (at once if it has)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if deadline <= self.clock.now():
            fut.set_result(None)
            return fut
        heapq.heappush(self._heap, (deadline, next(self._seq), fut))
        self._arm()
        return fut

    def discard(self, fut: asyncio.Future[None]) -> None:
        """Cancel a wait for good; once a third of the heap is such waits, rebuild it without
        them (they would otherwise stay until their deadline comes up)."""
        fut.cancel()
        self._discarded += 1
        if 3 * self._discarded >= len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].done()]
            heapq.heapify(self._heap)
            self._discarded = 0

    def next_deadline(self) -> float | None:
        """The earliest pending deadline (skipping cancelled waits)."""
        heap = self._heap
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def fire_due(self) -> int:
        """Resolve every wait whose deadline the clock has reached; return how many."""
        now = self.clock.now()
        fired = 0
        heap = self._heap
        on_lag = None if self.clock.virtual else self._on_lag
        while heap and heap[0][0] <= now:
            deadline, _, fut = heapq.heappop(heap)
            if not fut.done():
                fut.set_result(None)
                fired += 1
                if on_lag is not None:
                    on_lag(now - deadline)
        return fired

    def _arm(self) -> None:
        if self.clock.virtual:
            return
        deadline = self.next_deadline()
        if deadline is None or deadline == self._armed_for:
            return
        if self._handle is not None:
            self._handle.cancel()
        delay = max(0.0, deadline - self.clock.now())
        self._armed_for = deadline
        self._handle = self.loop.call_at(self.loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._handle = None
        self._armed_for = None
        self.fire_due()
        self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        for _, _, fut in self._heap:
            fut.cancel()
        self._heap.clear()
