"""One store, one kind of time: virtual-clock runs never resume on the real clock, nor the
other way round.

A store used under ``pw.use_virtual_clock()`` is marked virtual (``pw_meta.clock``). Its
timestamps are not real time, so opening it on the real clock while it still has unfinished
runs or schedules would fire their timers and catch-up runs at once and store runs that
finish before they started; the engine refuses and says what to do instead. Real-time work
may go on under a virtual clock that starts no earlier than now (skipping ahead through a
real run's sleeps is what the virtual clock is for), not under one set in the past. A store
with no unfinished work changes sides freely.
"""

from __future__ import annotations

import time

from ..errors import InvalidInput
from ..store import EventStore
from .clock import Clock

CLOCK_KEY = "clock"
VIRTUAL = "virtual"


def claim(store: EventStore, clock: Clock) -> None:
    """Mark ``store`` for this clock's kind of time, or refuse when work of the other kind
    is still in it."""
    virtual = clock.virtual
    if store.read_only:  # inspecting resumes nothing
        return
    marked_virtual = store.meta(CLOCK_KEY) == VIRTUAL
    if marked_virtual == virtual:
        return
    runs, schedules = store.unfinished_work()
    if (runs or schedules) and not (virtual and clock.now() >= time.time() - 1):
        kind, other = ("real", "virtual") if virtual else ("virtual", "real")
        what = " and ".join(part for part in (
            f"{runs} unfinished run{'s' * (runs != 1)}" if runs else "",
            f"{schedules} schedule{'s' * (schedules != 1)}" if schedules else "") if part)
        switch = ("pw.use_real_clock()" if virtual else
                  "pw.use_virtual_clock() (in a notebook: before %load_ext pyworkflow_nb)")
        raise InvalidInput(
            f"the store {store.path} holds {what} on {kind} time, and the engine now runs on "
            f"{other} time: resuming them would mix the two (timers and schedule fires due at "
            f"once, runs that end before they start). Use another store for {other} time, "
            f"e.g. pw.configure(store=':memory:'), or go back with {switch}; or purge or "
            "delete that work first.")
    store.set_meta(CLOCK_KEY, VIRTUAL if virtual else None)
