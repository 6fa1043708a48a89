"""How handles show themselves, without the client importing the notebook layer above it.

The notebook package fills :data:`views` in when it is imported; the package root (which sits
above every layer) tells :data:`views` how to import it on first use, so a script that never
shows a handle never loads ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import PyWorkflowError


class Views:
    """The display functions the notebook layer provides, by name."""

    def __init__(self) -> None:
        self._views: dict[str, Callable[..., Any]] = {}
        self.load: Callable[[], object] | None = None  # imports the layer that registers

    def register(self, name: str, view: Callable[..., Any]) -> None:
        self._views[name] = view

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self._views and self.load is not None:
            self.load()
        try:
            return self._views[name]
        except KeyError:
            raise PyWorkflowError(
                f"showing this needs pyworkflow_nb's notebook layer ({name!r} is not "
                "registered); install ipywidgets and anywidget") from None


views = Views()
