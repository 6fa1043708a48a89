"""Where a line of user code is, said the way its author knows it: ``Cell In[6], line 2``.

Code defined in a notebook cell lives in a file named after a hash (``/tmp/ipykernel_…/….py``).
The notebook layer, when loaded, names such files after their cells; everywhere else a file
is named by its path.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["describe", "name_of", "set_namer"]

_namer: Callable[[str], str | None] | None = None


def set_namer(namer: Callable[[str], str | None] | None) -> None:
    """Name files by ``namer(filename)``, which returns ``None`` for files it does not know."""
    global _namer
    _namer = namer


def name_of(filename: str) -> str:
    """``filename`` as its author knows it (a cell's name in a notebook)."""
    name = _namer(filename) if _namer is not None else None
    return name or filename


def describe(filename: str, lineno: int) -> str:
    """``"<file or cell>, line <lineno>"``."""
    return f"{name_of(filename)}, line {lineno}"
