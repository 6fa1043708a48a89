"""Time as the engine sees it: the real clock, or a virtual one tests can move forward.

The engine reads time only through ``engine.clock``. With a :class:`VirtualClock`, nothing
waits for real time: :func:`advance` moves the clock to each pending deadline in turn (durable
timers, retry delays, event timeouts, schedule fires), fires what is due, and lets every run
*settle* (reach its next wait) before moving on.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from ..errors import InvalidInput, PyWorkflowError

if TYPE_CHECKING:
    from .engine import Engine

_THREAD_POLL = 0.0005  # while a step runs in a thread, the loop has nothing to do but wait
DEFAULT_SKIP_LIMIT = 10_000


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
        """Move to ``when``; the clock never goes back."""
        self._now = max(self._now, when)


async def settle(engine: Engine) -> None:
    """Return once nothing moves until time passes (:attr:`Engine.settled`).

    Work that really runs (a step in a thread, a commit) is waited for, however long it takes.
    Each check comes after one loop turn, so the callbacks of futures that just resolved (a
    timer fired by :meth:`Timers.fire_due`, a commit) have run and show in that state; and it
    must hold on two turns in a row, for the callbacks those callbacks schedule (a dormant run
    woken by its timer replays, and its already-due timer calls back a turn later).
    """
    calm = 0
    while calm < 2:
        await asyncio.sleep(0)
        if engine.settled:
            calm += 1
            continue
        calm = 0
        if not engine.writer.idle:
            await engine.writer.durable()
        elif any(run.running_steps for run in engine.runs.values()):
            await asyncio.sleep(_THREAD_POLL)


def _virtual(engine: Engine) -> VirtualClock:
    clock = engine.clock
    if not isinstance(clock, VirtualClock):
        raise InvalidInput(
            "skipping time needs the virtual clock: call pw.use_virtual_clock() first "
            "(the real clock cannot be moved)")
    return clock


async def advance(engine: Engine, target: float | None,
                  limit: int = DEFAULT_SKIP_LIMIT) -> float:
    """Move virtual time to ``target`` firing everything due on the way, in time order.

    With ``target=None``, move until no run has a pending timer (schedules fire on the way
    but are not waited for on their own). Returns the new time. Raises ``PyWorkflowError``
    after ``limit`` moves, so that an endless chain of timers cannot hang the caller.
    """
    clock = _virtual(engine)
    end = math.inf if target is None else target
    await settle(engine)
    moves = 0
    while True:
        timer = engine.timers.next_deadline()
        if target is None and timer is None:
            break
        due = min(t for t in (timer, engine.scheduler.next_wake(), math.inf) if t is not None)
        if due > end:
            break
        moves += 1
        if moves > limit:
            raise PyWorkflowError(
                f"time was moved {limit} times and timers are still pending (a run or "
                "schedule keeps setting new ones); skip a fixed duration with pw.skip(...) "
                "or raise the limit")
        clock.set(due)
        engine.timers.fire_due()
        engine.scheduler.fire_due()
        await settle(engine)
    if target is not None:
        clock.set(target)
        engine.timers.fire_due()
        engine.scheduler.fire_due()
        await settle(engine)
    return clock.now()
