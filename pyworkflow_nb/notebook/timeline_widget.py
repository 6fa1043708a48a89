"""The run-timeline widget: an anywidget over ``extension/timeline.js`` that follows its run live.

The kernel keeps the run's events and the last state it sent. On the run's events it sends
deltas (``diff_state``), at most ten a second; the whole state reaches the ``state`` trait
only every ``TRAIT_EVERY`` seconds, so a new view says which ``seq`` it holds and gets the
full state when the kernel has moved on. Clicking a bar asks for that step's full values
(``details_for``); a child workflow's row (and a child run's header) links to the other run,
which the widget then shows. The protocol is described in ``timeline_data``.

A widget displayed with ``show()`` is a live view: when its run ends, the display settles
into the static final timeline (text/html only) and the widget closes, so a saved notebook
reopened without its kernel, nbconvert and GitHub all show the run's last state. A widget
displayed as a value (``h.timeline()``) stays interactive; its trait ends as the final
state, and front-ends that save widget state keep the latest trait they saw.

The engine runs on its own thread: the widget reads its run and follows it from there (so
no event falls between the read and the listener), and sends from there; view messages,
which arrive on the kernel's thread, hop over.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any

import anywidget
import traitlets
from IPython.display import DisplayHandle, display

from ..client import event_dict
from ..engine import Engine
from ..errors import RunNotFound
from ..history.vocabulary import FINAL_EVENTS, TERMINAL_STATUSES
from ..runtime import runtime
from ..store import EventRow, RunRow
from .static_timeline import render_html
from .throttle import Throttle
from .timeline_data import build_state, details_for, diff_state

__all__ = ["STATIC", "TimelineWidget", "with_html"]

STATIC = Path(__file__).with_name("static")
#: While a run goes, its whole state reaches the ``state`` trait at most this often (seconds),
#: so front-ends that save widget state (nbclient, Lab's "Save Widget State Automatically")
#: keep a recent snapshot; views get deltas in between.
TRAIT_EVERY = 2.0
_FINAL = frozenset(FINAL_EVENTS.values())


def with_html(bundle: Any, html: str) -> tuple[dict[str, Any], dict]:
    """A widget's mimebundle plus ``html``, the text/html a page without widgets shows."""
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
    return {**data, "text/html": html}, metadata


class TimelineWidget(anywidget.AnyWidget):
    """A live timeline of one run: ``handle.timeline()``, ``%wf show RUN``."""

    _esm = STATIC / "timeline.js"
    _css = STATIC / "timeline.css"
    state = traitlets.Dict().tag(sync=True)

    def __init__(self, run_id: str, *, engine: Engine | None = None) -> None:
        self.run_id = run_id
        self.engine = engine or runtime.ensure()
        self._display: DisplayHandle | None = None
        self._throttle = Throttle(self.engine.loop, self._update)
        self._trait_sync = Throttle(self.engine.loop, self._sync_trait, interval=TRAIT_EVERY)
        self.engine.on_loop(self._open)

    def _open(self) -> None:
        self._events = [event_dict(e) for e in self.engine.events(self.run_id)]
        self._sent = self._build()
        super().__init__(state=self._sent)
        self.on_msg(self._on_msg)
        self._follow_if_running()

    def _follow_if_running(self) -> None:
        if self._sent["run"]["status"] not in TERMINAL_STATUSES:
            self.engine.listeners.append(self._on_event)
            self.engine.status_listeners.append(self._on_status)

    @property
    def live(self) -> bool:
        """Whether the widget still follows its run."""
        return self._on_event in self.engine.listeners

    def show(self) -> TimelineWidget:
        """Display the widget as a live view that settles into the static timeline at the end.

        A run that is already over shows its static timeline straight away.
        """
        self._display = display(self, display_id=True)  # type: ignore[assignment]
        if not self.live:  # over before (or while) it was shown; _finish may settle it too
            self._settle()
        return self

    def static_bundle(self) -> dict[str, str]:
        """The shown run's state as a widget-free display: text and static HTML."""
        return {"text/plain": repr(self), "text/html": render_html(self._sent, hint=True)}

    def _settle(self) -> None:
        assert self._display is not None
        self._display.update(self.static_bundle(), raw=True)
        self.close()

    def show_run(self, run_id: str) -> None:
        """Show another run (a child or the parent) in this widget, live if it runs."""
        self.engine.on_loop(lambda: self._switch(run_id))

    def _switch(self, run_id: str) -> None:
        events = [event_dict(e) for e in self.engine.events(run_id)]  # RunNotFound first
        self._stop()
        self.run_id, self._events = run_id, events
        self._sent = self._build()
        self.state = self._sent
        self._follow_if_running()

    def _build(self) -> dict[str, Any]:
        state = build_state(self._events, self.engine.clock.now())
        row = self.engine.get_row(self.run_id)
        state["run"]["status"] = row.status
        if row.parent_run_id:
            state["run"]["parent_run_id"] = row.parent_run_id
        if row.continued_from:
            state["run"]["continued_from"] = row.continued_from
        if self.engine.clock.virtual:
            state["live"] = False
        return state

    # -- following the run -------------------------------------------------------------------

    def _on_event(self, event: EventRow) -> None:
        if event[0] != self.run_id:
            return
        self._events.append(event_dict(event))
        if event[3] in _FINAL:
            self._stop()
            self.engine.loop.call_soon(self._finish, context=contextvars.Context())
        else:
            self._throttle.request()

    def _on_status(self, row: RunRow) -> None:
        if row.run_id == self.run_id:
            self._throttle.request()

    def _update(self) -> None:
        if self.engine.closing:
            return
        new = self._build()
        delta = diff_state(self._sent, new)
        self._sent = new
        self.send({"type": "delta", "delta": delta})
        self._trait_sync.request()

    def _sync_trait(self) -> None:
        if not self.engine.closing:
            self.state = self._sent

    def _finish(self) -> None:
        """The run ended: last delta; a shown view settles, a widget value keeps the final
        state in its trait."""
        self._throttle.run_now()
        if self._display is not None:
            self._settle()
        else:
            self.state = self._sent

    def _stop(self) -> None:
        if self._on_event in self.engine.listeners:
            self.engine.listeners.remove(self._on_event)
        if self._on_status in self.engine.status_listeners:
            self.engine.status_listeners.remove(self._on_status)
        self._throttle.cancel()
        self._trait_sync.cancel()

    def close(self) -> None:
        """Stop following the run and close the widget's views."""
        self.engine.on_loop(self._stop)
        super().close()

    # -- requests from views -----------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "details":
            self.send(details_for(self._events, str(content.get("row")),
                                  content.get("attempt"), req=content.get("req")))
        elif kind == "open":
            with contextlib.suppress(RunNotFound):
                self.show_run(str(content.get("run_id")))
        elif kind == "resync" or (kind == "sync" and content.get("seq") != self._sent["seq"]):
            self.send({"type": "state", "state": self._sent})

    # -- display -----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict]:
        return with_html(super()._repr_mimebundle_(**kwargs), render_html(self._sent))

    def __repr__(self) -> str:
        run = self._sent["run"]
        return f"<TimelineWidget {self.run_id} workflow={run.get('workflow')} " \
               f"status={run.get('status')}>"
