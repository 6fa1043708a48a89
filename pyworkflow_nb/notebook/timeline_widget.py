"""The run-timeline widget: an anywidget over ``extension/timeline.js`` that follows its run live.

It follows its run through a ``RunFollower`` (deltas to the views, the whole state in the
``state`` trait now and then, full values of a step on request); a child workflow's row
(and a child run's header) links to the other run, which the widget then shows.

A widget displayed with ``show()`` is a live view: when its run ends, the display settles
into the static final timeline (text/html only) and the widget closes, so a saved notebook
reopened without its kernel, nbconvert and GitHub all show the run's last state. A widget
displayed as a value (``h.timeline()``) stays interactive; its trait ends as the final
state, and front-ends that save widget state keep the latest trait they saw.

The widget is built on the caller's thread (front-ends such as marimo bind a widget to the
session that built it); reading the run and following it happen on the engine's loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets
from IPython.display import DisplayHandle, display

from ..engine import Engine
from ..runtime import in_marimo, runtime
from .run_follower import RunFollower
from .static_timeline import render_html

__all__ = ["STATIC", "TimelineWidget", "with_html"]

STATIC = Path(__file__).with_name("static")


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
        self.engine = engine or runtime.ensure()
        self._display: DisplayHandle | None = None
        self._follower = RunFollower(self, self.engine, on_end=self._finish)
        super().__init__(state=self.engine.on_loop(lambda: self._follower.follow(run_id)))
        self.on_msg(self._on_msg)
        self.engine.on_loop(self._follower.open)

    @property
    def run_id(self) -> str:
        """The run shown (a child or parent run once a view followed a link)."""
        return self._follower.run_id

    @property
    def live(self) -> bool:
        """Whether the widget still follows its run."""
        return self._follower.live

    def show(self) -> TimelineWidget:
        """Display the widget as a live view that settles into the static timeline at the end.

        A run that is already over shows its static timeline straight away. In marimo the
        widget is appended to the cell's output, which the cell's value replaces at its end.
        """
        if in_marimo():
            import marimo

            marimo.output.append(self)
            return self
        self._display = display(self, display_id=True)  # type: ignore[assignment]
        if not self.live:  # over before (or while) it was shown; _finish may settle it too
            self._settle()
        return self

    def static_bundle(self) -> dict[str, str]:
        """The shown run's state as a widget-free display: text and static HTML."""
        return {"text/plain": repr(self), "text/html": render_html(self._follower.sent,
                                                                    hint=True)}

    def _settle(self) -> None:
        assert self._display is not None
        self._display.update(self.static_bundle(), raw=True)
        self.close()

    def show_run(self, run_id: str) -> None:
        """Show another run (a child or the parent) in this widget, live if it runs."""
        self._follower.switch(run_id)

    def _finish(self) -> None:
        """The run ended: a shown view settles, a widget value keeps the final state in its
        trait."""
        if self._display is not None:
            self._settle()
        else:
            self.state = self._follower.sent

    def close(self) -> None:
        """Stop following the run and close the widget's views."""
        self.engine.on_loop(self._follower.stop)
        super().close()

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict):
            self._follower.on_msg(content)

    # -- display -----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict]:
        return with_html(super()._repr_mimebundle_(**kwargs), render_html(self._follower.sent))

    def __repr__(self) -> str:
        run = self._follower.sent["run"]
        return f"<TimelineWidget {self.run_id} workflow={run.get('workflow')} " \
               f"status={run.get('status')}>"
