"""Virtual time: test a three-day sleep, a retry backoff or a nightly schedule in milliseconds.

``pw.use_virtual_clock()`` restarts the engine on a clock that only moves when told to (runs
in progress resume on it). ``pw.skip("3d")`` then moves time forward, firing every durable
timer, retry delay, event timeout and schedule fire in between, in time order, and letting
each run reach its next wait before time moves on.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .durations import DurationLike, parse_duration, parse_instant
from .engine import Clock, VirtualClock
from .engine.clock import DEFAULT_SKIP_LIMIT, advance
from .runtime import runtime


def use_virtual_clock(start: datetime | str | float | None = None) -> VirtualClock:
    """Switch the engine to virtual time, starting at ``start`` (default: now)."""
    begin = None if start is None else parse_instant(start, what="virtual clock start")
    clock = VirtualClock(begin)
    runtime.configure(clock=clock)
    return clock


def use_real_clock() -> None:
    """Switch the engine back to the system clock."""
    if runtime.config.clock is not None and runtime.config.clock.virtual:
        runtime.configure(clock=Clock())


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def skip(duration: DurationLike) -> datetime:
    """Move virtual time forward by ``duration``, firing everything due on the way.

    Blocks until every run has settled; returns the new time (UTC).
    """
    seconds = parse_duration(duration, what="skip duration")
    return _when(runtime.call_sync(lambda e: advance(e, e.clock.now() + seconds)))


async def skip_until_idle(limit: int = DEFAULT_SKIP_LIMIT) -> datetime:
    """Move virtual time to each next timer until no run waits on one; returns the new time.

    Schedules fire on the way, but time does not move just to reach a schedule's next fire.
    """
    return _when(await runtime.call(lambda e: advance(e, None, limit)))


def skip_until_idle_sync(limit: int = DEFAULT_SKIP_LIMIT) -> datetime:
    """The blocking form of :func:`skip_until_idle` (scripts and cells)."""
    return _when(runtime.call_sync(lambda e: advance(e, None, limit)))
