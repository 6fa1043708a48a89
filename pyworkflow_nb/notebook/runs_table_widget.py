"""The runs-table widget: runs newest first, live, with actions that call the engine.

``pw.runs_table()`` and ``%wf runs`` (in a kernel) show a :class:`RunsTable`: one anywidget
(``extension/runs_table.js``) drawing the table and, below it, the timeline of the run whose
"timeline" button was clicked last. Being one widget, it shows wherever anywidget does
(marimo refuses ipywidgets' boxes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any

import anywidget
import traitlets

from ..engine import Engine
from ..engine.retry import retry_run
from ..errors import InvalidInput, PyWorkflowError
from ..runtime import runtime
from ..store import EventRow, RunRow
from .display import run_row_dict
from .run_follower import RunFollower, views_gone
from .static_timeline import render_runs_table_html
from .throttle import Throttle
from .timeline_widget import STATIC, with_html

__all__ = ["TABLE_POLL", "RunsTable"]

#: How often (seconds) the table re-reads a store other processes share, for their changes.
TABLE_POLL = 1.0


class RunsTable(anywidget.AnyWidget):
    """Runs newest first, live, with actions; the picked run's timeline shows underneath.

    The ``runs`` trait holds the rows, refreshed at most 10 times a second; the ``state``
    trait holds the picked run's timeline (empty until a "timeline" button is clicked),
    which the view draws with ``timeline.js``, sent once in ``_timeline_esm``.
    """

    _esm = STATIC / "runs_table.js"
    _css = STATIC / "timeline.css"
    runs: Any = traitlets.List().tag(sync=True)
    state: Any = traitlets.Dict().tag(sync=True)
    _timeline_esm: Any = traitlets.Unicode().tag(sync=True)

    def __init__(self, *, workflow: Any = None, status: str | None = None,
                 limit: int = 50, engine: Engine | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"runs_table(limit=...) must be an int >= 1, got {limit!r}")
        self.engine = engine or runtime.ensure()
        self.workflow = getattr(workflow, "name", workflow)
        self.status, self.limit = status, limit
        self._throttle = Throttle(self.engine.loop, self._refresh)
        self._follower = RunFollower(self, self.engine, on_end=self._timeline_ended)
        self._opened = False
        self._polling: asyncio.Task[None] | None = None
        super().__init__(runs=self.engine.on_loop(self._listen),
                         _timeline_esm=(STATIC / "timeline.js").read_text(encoding="utf-8"))
        self.on_msg(self._on_msg)
        self.engine.on_loop(self._open)

    def _listen(self) -> list[dict[str, Any]]:
        self.engine.listeners.append(self._on_event)
        self.engine.status_listeners.append(self._on_status)
        return self._rows()

    def _open(self) -> None:
        self._opened = True
        self._follower.open()
        self._refresh()
        if self.engine.inbox is not None:  # a shared store: other processes change runs too
            self._polling = self.engine.loop.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(TABLE_POLL)
            self._throttle.request()

    def _rows(self) -> list[dict[str, Any]]:
        """The store's runs with the live runs' in-memory rows (newer than the store's)."""
        engine = self.engine
        rows: dict[str, RunRow] = {
            r.run_id: r for r in engine.store.list_runs(workflow=self.workflow,
                                                        status=self.status, limit=self.limit)}
        for row in [*(run.row for run in engine.runs.values()), *engine.dormancy.rows()]:
            if ((self.workflow is None or row.workflow == self.workflow)
                    and (self.status is None or row.status == self.status)):
                rows[row.run_id] = row
        newest = sorted(rows.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        return [run_row_dict(r) for r in newest[:self.limit]]

    def _on_event(self, _event: EventRow) -> None:
        self._throttle.request()

    def _on_status(self, _row: RunRow) -> None:
        self._throttle.request()

    def refresh(self) -> None:
        """Re-read the runs now."""
        self.engine.on_loop(self._refresh)

    def _refresh(self) -> None:
        if self.engine.closing or not self._opened:
            return
        if views_gone(self):
            self._stop()
            return
        rows = self._rows()
        if rows != self.runs:
            self.runs = rows

    def show_timeline(self, run_id: str) -> None:
        """Show ``run_id``'s timeline under the table (instead of the one shown)."""
        self._follower.switch(run_id)

    def _timeline_ended(self) -> None:
        self.state = self._follower.sent

    def close(self) -> None:
        """Stop refreshing and close the widget's views."""
        if hasattr(self, "_follower"):  # (not when __init__ refused its arguments)
            self.engine.on_loop(self._stop)
        super().close()

    def _stop(self) -> None:
        self._follower.stop()
        if self._on_event in self.engine.listeners:
            self.engine.listeners.remove(self._on_event)
        if self._on_status in self.engine.status_listeners:
            self.engine.status_listeners.remove(self._on_status)
        self._throttle.cancel()
        if self._polling is not None:
            self._polling.cancel()
            self._polling = None

    # -- actions -----------------------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") != "action":
            self._follower.on_msg(content)
            return
        action, run_id = content.get("action"), str(content.get("run_id"))
        if action == "timeline":
            try:
                self.show_timeline(run_id)
            except PyWorkflowError as exc:
                self._reply(action, run_id, False, str(exc))
            else:
                self._reply(action, run_id, True, "timeline below")
            return
        event = content.get("event")
        if action == "send_event" and not (isinstance(event, str) and event.strip()):
            self._reply(action, run_id, False, f"send_event needs an event name, got {event!r}")
            return
        work = self._action(action, run_id, content)
        if work is None:
            self._reply(str(action), run_id, False, f"unknown action {action!r}")
            return
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            work, self.engine.loop)
        future.add_done_callback(lambda f: self._done(str(action), run_id, f))

    def _action(self, action: Any, run_id: str,
                content: dict[str, Any]) -> Coroutine[Any, Any, Any] | None:
        engine = self.engine
        if action == "cancel":
            return engine.cancel(run_id)
        if action == "terminate":
            return engine.terminate(run_id, "from the runs table")
        if action == "pause":
            return engine.pause(run_id)
        if action == "resume":
            return engine.resume(run_id)
        if action == "retry":
            return retry_run(engine, run_id)
        if action == "send_event":
            return engine.send_event(run_id, content["event"].strip(), content.get("payload"))
        return None

    def _done(self, action: str, run_id: str, future: Any) -> None:
        exc = future.exception()
        if exc is None:
            self._reply(action, run_id, True, "done")
        elif isinstance(exc, PyWorkflowError):
            self._reply(action, run_id, False, str(exc))
        else:
            self._reply(action, run_id, False, f"{type(exc).__name__}: {exc}")
        self._throttle.request()

    def _reply(self, action: str, run_id: str, ok: bool, message: str) -> None:
        self.send({"type": "action_result", "action": action, "run_id": run_id, "ok": ok,
                   "message": message})

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict]:
        return with_html(super()._repr_mimebundle_(**kwargs), render_runs_table_html(self.runs))
