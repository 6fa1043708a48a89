"""Short tracebacks for run failures: the user's frames (cells, their modules), not the engine's."""

from __future__ import annotations

import asyncio
import os
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..errors import NonDeterminismError
from ..locations import name_of

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HIDDEN_DIRS = (_PACKAGE_DIR, os.path.dirname(asyncio.__file__),
                os.path.dirname(traceback.__file__) + os.sep + "concurrent")
REPLAY_HINT = ("The cell changed since this run recorded its history: put the edit behind "
               "`if pw.patched(\"my-change\"):` (old code under `else:`) and run the cell "
               "again, then `%wf retry RUN`; or run it with a new `--id` to start afresh "
               "with the new code; or revert the edit to resume the run.")
HINT = ("(engine frames hidden; `%config WorkflowMagics.short_errors = False` shows the full "
        "traceback)")


def _user_frames(tb: TracebackType | None) -> traceback.StackSummary:
    frames = [f for f in traceback.extract_tb(tb)
              if not f.filename.startswith(_HIDDEN_DIRS)]
    return traceback.StackSummary.from_list(frames)


def cell_namer(shell: Any) -> Callable[[str], str | None]:
    """Names the files IPython compiled cells into after their cells: ``Cell In[6]``."""
    def name(filename: str) -> str | None:
        cell = _filename_map(shell).get(filename)
        return f"Cell In[{cell}]" if cell is not None else None

    return name


def current_cell_number(shell: Any) -> int:
    """The number of the cell running now.

    IPython files each cell's code under its number before running it; the running cell has
    the highest. (``execution_count`` is already the next cell's number under IPython 9.)
    """
    return max(_filename_map(shell).values(), default=shell.execution_count)


def _filename_map(shell: Any) -> dict[str, int]:
    return getattr(getattr(shell, "compile", None), "_filename_map", {})


def short_traceback(exc: BaseException) -> list[str]:
    """The lines to show for ``exc``: each cause with its user frames, then ``exc``'s message.

    ``exc`` itself was raised where the cell waited for the run, so its frames say nothing.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    lines: list[str] = []
    for i, err in enumerate(reversed(chain)):
        if i:
            lines.append("\nwhich made:")
        frames = _user_frames(err.__traceback__) if err is not exc else []
        for frame in frames:
            lines.append(f"  {name_of(frame.filename)}, line {frame.lineno}, in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line}")
        lines.append(f"{type(err).__name__}: {err}")
    if any(isinstance(err, NonDeterminismError) for err in chain):
        lines.append(REPLAY_HINT)
    lines.append(HINT)
    return lines
