"""A run's display that updates in place as its events arrive, at most 10 times a second."""

from __future__ import annotations

import time
from typing import Any

from IPython.display import DisplayHandle, display

from ..client import RunHandle
from ..engine import Engine
from ..store import EventRow
from .display import run_html

MIN_INTERVAL = 0.1
_FINAL = frozenset({"workflow.completed", "workflow.failed", "workflow.cancelled"})


class _View:
    """A run rendered through its engine directly (live updates run on the engine's loop)."""

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    def _repr_html_(self) -> str:
        return run_html(self.engine, self.run_id)

    def __repr__(self) -> str:
        row = self.engine.get_row(self.run_id)
        return f"<RunHandle {row.run_id} workflow={row.workflow} status={row.status}>"


class LiveRun:
    """Shows ``handle`` now and re-renders it on its run's events, throttled."""

    def __init__(self, engine: Engine, handle: RunHandle) -> None:
        self.engine = engine
        self.handle = handle
        self.updates = 0
        self._last = 0.0
        self._pending: Any = None
        self._display: DisplayHandle = display(_View(engine, handle.run_id),  # type: ignore[assignment]
                                               display_id=True)
        if handle.status() not in ("completed", "failed", "cancelled"):
            engine.listeners.append(self._on_event)

    def _on_event(self, event: EventRow) -> None:
        if event[0] != self.handle.run_id:
            return
        if event[3] in _FINAL:
            self._stop()
            self.engine.loop.call_soon(self._update)
            return
        if self._pending is not None:
            return
        wait = self._last + MIN_INTERVAL - time.monotonic()
        self._pending = self.engine.loop.call_later(max(wait, 0.0), self._update)

    def _update(self) -> None:
        self._pending = None
        if self.engine.closing:
            return
        self._last = time.monotonic()
        self.updates += 1
        self._display.update(_View(self.engine, self.handle.run_id))

    def _stop(self) -> None:
        if self._on_event in self.engine.listeners:
            self.engine.listeners.remove(self._on_event)
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
