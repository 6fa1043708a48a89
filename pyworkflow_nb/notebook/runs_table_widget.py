"""The runs-table widget: runs newest first, live, with actions that call the engine.

``pw.runs_table()`` and ``%wf runs`` (in a kernel) show a :class:`RunsTable`: the table
(an anywidget over ``extension/runs_table.js``) and, below it, the timeline of the run whose
"timeline" button was clicked last.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

import anywidget
import ipywidgets
import traitlets

from ..engine import Engine
from ..engine.retry import retry_run
from ..errors import InvalidInput, PyWorkflowError
from ..runtime import runtime
from ..store import EventRow, RunRow
from .display import run_row_dict
from .static_timeline import render_runs_table_html
from .throttle import Throttle
from .timeline_widget import STATIC, TimelineWidget, with_html

__all__ = ["RunsTable", "RunsTableWidget"]


class RunsTableWidget(anywidget.AnyWidget):
    """The table itself: the ``runs`` trait holds the rows, refreshed at most 10 times a second."""

    _esm = STATIC / "runs_table.js"
    _css = STATIC / "timeline.css"
    runs: Any = traitlets.List().tag(sync=True)

    def __init__(self, *, workflow: str | None = None, status: str | None = None,
                 limit: int = 50, engine: Engine | None = None,
                 on_timeline: Callable[[str], None] | None = None) -> None:
        self.engine = engine or runtime.ensure()
        self.workflow, self.status, self.limit = workflow, status, limit
        self.on_timeline = on_timeline
        self._throttle = Throttle(self.engine.loop, self._refresh)
        self.engine.on_loop(self._open)

    def _open(self) -> None:
        super().__init__(runs=self._rows())
        self.on_msg(self._on_msg)
        self.engine.listeners.append(self._on_event)
        self.engine.status_listeners.append(self._on_status)

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
        if self.engine.closing:
            return
        rows = self._rows()
        if rows != self.runs:
            self.runs = rows

    def close(self) -> None:
        """Stop refreshing and close the widget's views."""
        self.engine.on_loop(self._stop)
        super().close()

    def _stop(self) -> None:
        if self._on_event in self.engine.listeners:
            self.engine.listeners.remove(self._on_event)
        if self._on_status in self.engine.status_listeners:
            self.engine.status_listeners.remove(self._on_status)
        self._throttle.cancel()

    # -- actions -----------------------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "action":
            return
        action, run_id = content.get("action"), str(content.get("run_id"))
        if action == "timeline":
            try:
                if self.on_timeline is not None:
                    self.on_timeline(run_id)
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


class RunsTable(ipywidgets.VBox):
    """The runs table with the timeline of the run picked in it underneath."""

    def __init__(self, *, workflow: Any = None, status: str | None = None,
                 limit: int = 50, engine: Engine | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"runs_table(limit=...) must be an int >= 1, got {limit!r}")
        self.table = RunsTableWidget(workflow=getattr(workflow, "name", workflow),
                                     status=status, limit=limit, engine=engine,
                                     on_timeline=self.show_timeline)
        self.timeline: TimelineWidget | None = None
        super().__init__(children=[self.table])

    def show_timeline(self, run_id: str) -> None:
        """Show ``run_id``'s timeline under the table (replacing the one shown)."""
        if self.timeline is not None:
            self.timeline.close()
        self.timeline = TimelineWidget(run_id, engine=self.table.engine)
        self.children = [self.table, self.timeline]

    def close(self) -> None:
        """Close the table, the timeline shown and the box."""
        for part in (getattr(self, "table", None), getattr(self, "timeline", None)):
            if part is not None:  # (none yet when __init__ refused its arguments)
                part.close()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict]:
        return with_html(super()._repr_mimebundle_(**kwargs),
                         render_runs_table_html(self.table.runs))

