"""Sleeping runs out of memory: a run whose only work is a distant durable timer is dropped
from memory, and rebuilt from its history by replay when the timer fires or a call needs it.

A live sleeping run holds its body's coroutine, loops and futures (about 7 KB); a dormant one
holds its row, its ``done`` future (callers awaiting its result keep it) and one timer heap
entry. Only plain cases go dormant: a top-level run with no children, no steps, waits,
handlers or messages in flight, asleep on one timer at least ``DORMANT_AFTER`` seconds away,
whose body does not wait inside a ``try``, ``with`` or ``finally`` block of its own: dropping
the body then runs none of its code (a cleanup handler would run once for nothing).
"""

from __future__ import annotations

import asyncio
import contextvars
import dis
import functools
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any

from ..history import vocabulary as ev
from ..store import EventRow, RunRow
from . import collector

if TYPE_CHECKING:
    from .engine import Engine
    from .run import Run

DORMANT_AFTER = 300.0  # clock seconds a run's timer must be away for the run to go dormant


@dataclass(slots=True)
class Dormant:
    """What stays of a dormant run."""

    row: RunRow
    done: asyncio.Future[Any]  # the run's, carried over to the run rebuilt from it
    wake: asyncio.Future[None]  # its timer, on the engine's heap
    recovered: bool  # it came from the store (see Engine.recover)


class Dormancy:
    """The engine's dormant runs (loop thread only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs: dict[str, Dormant] = {}
        self._due: list[str] = []  # dormant runs whose timer fired, woken together next turn

    @property
    def busy(self) -> bool:
        """Runs whose timer fired wait to be rebuilt."""
        return bool(self._due)

    def __len__(self) -> int:
        return len(self.runs)

    def consider_soon(self, run: Run) -> None:
        """Look at ``run`` once its current activation is over (outside the body's context,
        which names the run: a callback kept in it would keep the run in memory)."""
        self.engine.loop.call_soon(self._consider, run, context=contextvars.Context())

    def _consider(self, run: Run) -> None:
        timer = _only_timer(run)
        engine = self.engine
        if (timer is None or timer[0] - engine.clock.now() < DORMANT_AFTER
                or engine.closing or engine.runs.get(run.run_id) is not run
                or not _drops_quietly(run)):
            return
        deadline, waiting = timer
        run.stop()
        engine.timers.discard(waiting)
        del engine.runs[run.run_id]
        wake = engine.timers.wait(deadline)
        run_id = run.run_id
        wake.add_done_callback(lambda fut: None if fut.cancelled() else self._fired(run_id),
                               context=contextvars.Context())
        self.runs[run_id] = Dormant(run.row, run.done, wake, run.recovered)

    def row(self, run_id: str) -> RunRow | None:
        dormant = self.runs.get(run_id)
        return None if dormant is None else dormant.row

    def rows(self) -> list[RunRow]:
        return [d.row for d in self.runs.values()]

    def done(self, run_id: str) -> asyncio.Future[Any] | None:
        dormant = self.runs.get(run_id)
        return None if dormant is None else dormant.done

    def _fired(self, run_id: str) -> None:
        self._due.append(run_id)
        if len(self._due) == 1:
            self.engine.loop.call_soon(self._wake_due, context=contextvars.Context())

    def _wake_due(self) -> None:
        """Rebuild the runs whose timers fired, reading their histories in one query: timers
        that fire together (a schedule's hour, a skip) would otherwise cost a query each."""
        due, self._due = [r for r in self._due if r in self.runs], []
        with collector.paused():  # as at recovery: the rows read are as many objects to keep
            histories = self.engine.store.load_histories(due) if due else {}
            for run_id in due:
                self._rebuild(run_id, histories.get(run_id, []))

    def wake(self, run_id: str) -> Run | None:
        """Rebuild a dormant run by replaying its history; ``None`` if it is not dormant."""
        if run_id not in self.runs:
            return None
        return self._rebuild(run_id, self.engine.store.load_events(run_id))

    def _rebuild(self, run_id: str, stored: list[EventRow]) -> Run:
        from .run import Run

        dormant = self.runs.pop(run_id)
        dormant.wake.cancel()
        engine = self.engine
        events = engine.writer.history(run_id, stored)
        run = Run.from_store(engine, dormant.row, events)
        run.done, run.recovered = dormant.done, dormant.recovered
        engine.runs[run_id] = run
        workflow = engine.registry.workflow(dormant.row.workflow)
        if workflow is None:
            run.set_status(ev.WAITING_FOR_DEFINITION)
        else:
            run.begin(workflow)
        return run

    def close(self) -> None:
        for dormant in self.runs.values():
            dormant.wake.cancel()
        self.runs.clear()


def _only_timer(run: Run) -> tuple[float, asyncio.Future[Any]] | None:
    """The deadline and heap wait of the one timer ``run`` sleeps on, if nothing else keeps
    it in memory."""
    row = run.row
    if (row.status != ev.SLEEPING or row.parent_run_id is not None or run.children
            or run.awaited_children or run.paused or run.replaying or run.running_steps
            or run.waiting or run.conditions or run.active or run.deliveries
            or run.query_handlers or run.signal_handlers or run.update_handlers
            or run.updates or run.unhandled or run.held or run.task is None
            or run.cancel_requested or run.terminating or len(run.pending) != 1):
        return None
    (p,) = run.pending.values()
    if p.kind != "timer" or p.until is None or p.work is None or p.work.done():
        return None
    return p.until, p.work


def _drops_quietly(run: Run) -> bool:
    """No frame of the body (the engine's own aside) waits inside an exception handler's
    range, so closing it runs none of the body's code."""
    coro: Any = run.task.get_coro() if run.task is not None else None
    while coro is not None and hasattr(coro, "cr_frame"):
        frame = coro.cr_frame
        if frame is None:
            return False
        if (not frame.f_globals.get("__name__", "").startswith("pyworkflow_nb.engine")
                and _guarded(frame.f_code, frame.f_lasti)):
            return False
        coro = coro.cr_await
    return True


_CLEANUP_THROW = dis.opmap.get("CLEANUP_THROW")  # 3.12+: every await's own handler


def _guarded(code: CodeType, offset: int) -> bool:
    """Whether the instruction at ``offset`` lies in a try, with or finally block."""
    ranges = _handler_ranges(code)
    return ranges is None or any(start <= offset < end for start, end in ranges)


@functools.lru_cache(maxsize=512)
def _handler_ranges(code: CodeType) -> tuple[tuple[int, int], ...] | None:
    """The code's exception-handler ranges (``None`` if this Python cannot tell)."""
    parse = getattr(dis, "_parse_exception_table", None)
    if parse is None:
        return None
    return tuple((entry.start, entry.end) for entry in parse(code)
                 if code.co_code[entry.target] != _CLEANUP_THROW)
