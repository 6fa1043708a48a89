"""Following one run for a widget: its events, the state last sent, deltas to the views.

The timeline widget and the runs table (which shows a picked run's timeline inside itself)
both follow a run this way. The follower reads the run and registers its listeners in one
go on the engine's loop, so no event falls between the read and the listener, and it sends
from there. It sends nothing before :meth:`RunFollower.open`: widgets are built on the
caller's thread (where a front-end such as marimo binds a widget to its session), after
the read, so what happens in between is sent when the widget opens.

The protocol with the views is described in ``timeline_data``: deltas at most ten a second,
the whole state in the widget's ``state`` trait every ``TRAIT_EVERY`` seconds, full values
of a step on request, a link to another run followed on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from typing import Any

import anywidget

from ..client import event_dict
from ..engine import Engine
from ..errors import RunNotFound
from ..history.vocabulary import FINAL_EVENTS, TERMINAL_STATUSES
from ..store import EventRow, RunRow
from .throttle import Throttle
from .timeline_data import build_state, details_for, diff_state

__all__ = ["POLL_ELSEWHERE", "TRAIT_EVERY", "RunFollower", "views_gone"]

#: While a run goes, its whole state reaches the ``state`` trait at most this often (seconds),
#: so front-ends that save widget state (nbclient, Lab's "Save Widget State Automatically")
#: keep a recent snapshot; views get deltas in between.
TRAIT_EVERY = 2.0
#: How often (seconds) the follower of a run another process executes (a shared store's)
#: reads its new events from the store.
POLL_ELSEWHERE = 0.25
_FINAL = frozenset(FINAL_EVENTS.values())


def views_gone(widget: anywidget.AnyWidget) -> bool:
    """Whether the front-end has dropped ``widget``: it was closed, or its comm closed under
    it (marimo closes a cell's widgets when the cell runs again or goes away)."""
    comm = widget.comm
    return comm is None or bool(getattr(comm, "_closed", False))


class RunFollower:
    """Keeps ``widget``'s views and ``state`` trait in step with one run while it goes, and
    stops once the front-end has dropped the widget.

    ``on_end`` is called on the loop when the followed run ends, after its last delta.
    """

    def __init__(self, widget: anywidget.AnyWidget, engine: Engine,
                 on_end: Callable[[], None]) -> None:
        self.widget, self.engine, self.on_end = widget, engine, on_end
        self.run_id = ""
        self.events: list[dict[str, Any]] = []
        self.sent: dict[str, Any] = {}
        self._opened = False
        self._ended = False  # the run ended before the widget opened
        self._throttle = Throttle(engine.loop, self._update)
        self._trait_sync = Throttle(engine.loop, self._sync_trait, interval=TRAIT_EVERY)
        self._polling: asyncio.Task[None] | None = None
        self._polled: RunRow | None = None  # the row read with the events polled last

    # -- on the engine's loop ----------------------------------------------------------------

    def follow(self, run_id: str) -> dict[str, Any]:
        """Read ``run_id`` and follow it while it runs (instead of the run followed so far);
        returns its state. Raises :class:`RunNotFound` before dropping the old run."""
        row = self.engine.get_row(run_id)  # first: the events read next are at least as new
        events = [event_dict(e) for e in self.engine.events(run_id)]
        self.stop()
        self.run_id, self.events = run_id, events
        self._polled = row if self.engine.elsewhere(row) else None
        self.sent = self._build()
        if self.sent["run"]["status"] not in TERMINAL_STATUSES:
            self.engine.listeners.append(self._on_event)
            self.engine.status_listeners.append(self._on_status)
            if self._polled is not None:
                self._polling = self.engine.loop.create_task(self._poll())
        return self.sent

    def open(self) -> None:
        """The widget's comm is open: send what happened since :meth:`follow` read the run."""
        self._opened = True
        if self._ended:
            self._end()
        elif self.live:
            self._throttle.run_now()

    @property
    def live(self) -> bool:
        """Whether the run is followed (it has not ended)."""
        return self._on_event in self.engine.listeners

    def stop(self) -> None:
        """Stop following (and drop planned sends)."""
        if self._on_event in self.engine.listeners:
            self.engine.listeners.remove(self._on_event)
        if self._on_status in self.engine.status_listeners:
            self.engine.status_listeners.remove(self._on_status)
        self._throttle.cancel()
        self._trait_sync.cancel()
        if self._polling is not None:
            self._polling.cancel()
            self._polling = self._polled = None

    async def _poll(self) -> None:
        """Feed the events another process records for the run, as if they happened here."""
        store, loop, run_id = self.engine.store, self.engine.loop, self.run_id

        def read(after: int) -> tuple[list[EventRow], RunRow | None]:
            row = store.get_run(run_id)  # first: the events read next are at least as new
            return store.load_events(run_id, after), row

        while True:
            await asyncio.sleep(POLL_ELSEWHERE)
            try:
                stored, row = await loop.run_in_executor(
                    None, read, self.events[-1]["seq"] if self.events else -1)
            except Exception:  # the server is away: the next poll tries again
                continue
            self._polled = row
            for event in stored:
                self._on_event(event)
            if row is not None and self.sent and row.status != self.sent["run"]["status"]:
                self._throttle.request()  # taken by a worker: pending -> running

    def _build(self) -> dict[str, Any]:
        state = build_state(self.events, self.engine.clock.now())
        polled = self._polled  # (another process executes the run: read with the events)
        row = polled if polled is not None and self.run_id not in self.engine.runs \
            else self.engine.get_row(self.run_id)
        state["run"]["status"] = row.status
        if row.parent_run_id:
            state["run"]["parent_run_id"] = row.parent_run_id
        if row.continued_from:
            state["run"]["continued_from"] = row.continued_from
        if self.engine.clock.virtual:
            state["live"] = False
        return state

    def _on_event(self, event: EventRow) -> None:
        if event[0] != self.run_id or (self.events and event[1] <= self.events[-1]["seq"]):
            return  # another run's, or read from the store already
        self.events.append(event_dict(event))
        if event[3] in _FINAL:
            self.stop()
            self.engine.loop.call_soon(self._end, context=contextvars.Context())
        else:
            self._throttle.request()

    def _on_status(self, row: RunRow) -> None:
        if row.run_id == self.run_id:
            self._throttle.request()

    def _update(self) -> None:
        if self.engine.closing or not self._opened:
            return
        if views_gone(self.widget):
            self.stop()
            return
        new = self._build()
        delta = diff_state(self.sent, new)
        self.sent = new
        self.widget.send({"type": "delta", "delta": delta})
        self._trait_sync.request()

    def _sync_trait(self) -> None:
        if not self.engine.closing and not views_gone(self.widget):
            self.widget.state = self.sent  # type: ignore[attr-defined]

    def _end(self) -> None:
        if not self._opened:
            self._ended = True
            return
        self._ended = False
        if views_gone(self.widget):
            return
        self._update()
        self._trait_sync.cancel()
        self.on_end()

    # -- requests from views (any thread) ----------------------------------------------------

    def on_msg(self, content: dict[str, Any]) -> None:
        """Answer a view's request: full values, another run, or the whole state."""
        kind = content.get("type")
        if kind == "details":
            self.widget.send(details_for(self.events, str(content.get("row")),
                                         content.get("attempt"), req=content.get("req")))
        elif kind == "open":
            with contextlib.suppress(RunNotFound):
                self.switch(str(content.get("run_id")))
        elif self.sent and (kind == "resync" or (kind == "sync"
                                                 and content.get("seq") != self.sent["seq"])):
            self.widget.send({"type": "state", "state": self.sent})

    def switch(self, run_id: str) -> None:
        """Follow ``run_id`` instead, its whole state in the widget's trait (from any
        thread; raises :class:`RunNotFound` and keeps the run followed so far)."""

        def on_loop() -> None:
            self.widget.state = self.follow(run_id)  # type: ignore[attr-defined]

        self.engine.on_loop(on_loop)
