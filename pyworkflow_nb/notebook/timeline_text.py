"""Display text for the run-timeline state: values, errors, call arguments, durations.

Values become compact JSON (``indent`` for pretty output), top-level strings stay
as-is and pickle envelopes (``{"__pw_pickle__": ..., "repr": ...}``) show as their
``repr``.  Every formatter stops at a character limit, so huge values cost little;
``text_limit`` derives the per-value limit from a state's shared ``TEXT_BUDGET``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "DETAIL_CHARS",
    "MAX_CHARS",
    "MIN_CHARS",
    "PICKLE_KEY",
    "TEXT_BUDGET",
    "format_duration",
    "format_value",
    "short_duration",
    "text_limit",
]

PICKLE_KEY = "__pw_pickle__"

#: Total characters of display text one state may hold, shared by all its values.
TEXT_BUDGET = 300_000
#: Bounds of the per-value cut derived from the budget.
MIN_CHARS, MAX_CHARS = 80, 2000
#: Cut for the full values of a details reply.
DETAIL_CHARS = 1_000_000

_MAX_DEPTH = 40


# ---------------------------------------------------------------------------
# value display


class _Full(Exception):
    """Raised by the formatter once its character budget is spent."""


def format_value(
    value: Any, limit: int = MAX_CHARS, *, indent: int | None = None
) -> tuple[str, bool]:
    """Return ``(text, truncated)``: ``value`` as display text of at most ``limit`` chars.

    Top-level strings are shown as-is, everything else as JSON (``indent`` for
    pretty output) with pickle envelopes shown as their ``repr``.  Formatting
    stops as soon as the limit is reached, so huge values cost little.
    """
    if isinstance(value, str):
        return (value[:limit], True) if len(value) > limit else (value, False)
    parts: list[str] = []
    try:
        _emit_value(value, parts, [0, limit], indent, 0)
    except _Full:
        return "".join(parts)[:limit], True
    return "".join(parts), False


def _emit(s: str, parts: list[str], budget: list[int]) -> None:
    parts.append(s)
    budget[0] += len(s)
    if budget[0] > budget[1]:
        raise _Full


def _emit_value(
    v: Any, parts: list[str], budget: list[int], indent: int | None, depth: int
) -> None:
    if v is None or isinstance(v, (bool, int, float, str)):
        _emit(json.dumps(v, ensure_ascii=False), parts, budget)
        return
    if depth > _MAX_DEPTH:
        _emit("…", parts, budget)
        return
    if isinstance(v, dict):
        if PICKLE_KEY in v:
            _emit(_envelope_repr(v), parts, budget)
            return
        items: Iterable[tuple[Any, Any]] = v.items()
        opener, closer, is_dict = "{", "}", True
    elif isinstance(v, (list, tuple)):
        items = enumerate(v)
        opener, closer, is_dict = "[", "]", False
    else:
        _emit(repr(v), parts, budget)
        return
    if not v:
        _emit(opener + closer, parts, budget)
        return
    pad = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    _emit(opener, parts, budget)
    for i, (k, x) in enumerate(items):
        if i:
            _emit("," if indent is not None else ", ", parts, budget)
        if pad:
            _emit(pad, parts, budget)
        if is_dict:
            _emit(json.dumps(str(k), ensure_ascii=False) + ": ", parts, budget)
        _emit_value(x, parts, budget, indent, depth + 1)
    if indent is not None:
        _emit("\n" + " " * (indent * depth), parts, budget)
    _emit(closer, parts, budget)


def _envelope_repr(v: dict[str, Any]) -> str:
    rep = v.get("repr")
    if isinstance(rep, str) and rep:
        return rep
    return f"<{v.get('type') or 'pickled value'}>"


def _format_call(inp: Any, limit: int, indent: int | None = None) -> tuple[str, bool]:
    """Format a recorded ``{"args": [...], "kwargs": {...}}`` like call arguments."""
    if not isinstance(inp, dict) or not ({"args", "kwargs"} >= inp.keys()):
        return format_value(inp, limit, indent=indent)
    parts: list[str] = []
    budget = [0, limit]
    try:
        first = True
        for a in inp.get("args") or ():
            if not first:
                _emit(", ", parts, budget)
            first = False
            _emit_value(a, parts, budget, indent, 0)
        for k, a in (inp.get("kwargs") or {}).items():
            if not first:
                _emit(", ", parts, budget)
            first = False
            _emit(f"{k}=", parts, budget)
            _emit_value(a, parts, budget, indent, 0)
    except _Full:
        return "".join(parts)[:limit], True
    return "".join(parts), False


def _format_error(err: Any, limit: int) -> tuple[dict[str, Any], bool]:
    """Normalise a recorded error to ``{"type", "message", "traceback"}`` within ``limit``.

    The traceback keeps its tail (the most useful part) when cut.
    """
    if not isinstance(err, dict):
        err = {"type": "Error", "message": err if isinstance(err, str) else format_value(err)[0]}
    etype = str(err.get("type") or "Error")[:200]
    msg = err.get("message")
    message, cut1 = format_value("" if msg is None else msg, limit)
    tb = err.get("traceback")
    cut2 = False
    if isinstance(tb, str) and tb:
        if len(tb) > limit:
            tb, cut2 = "…" + tb[-limit:], True
    else:
        tb = None
    return {"type": etype, "message": message, "traceback": tb}, cut1 or cut2


def text_limit(n_texts: int, budget: int = TEXT_BUDGET) -> int:
    """Per-value character cut for a state holding ``n_texts`` display texts."""
    if n_texts <= 0:
        return MAX_CHARS
    return max(MIN_CHARS, min(MAX_CHARS, budget // n_texts))


# ---------------------------------------------------------------------------
# durations


def format_duration(seconds: float) -> str:
    """Short human duration: ``850 ms``, ``12.3 s``, ``4 min 2 s``, ``3 h``, ``2 d 5 h``.

    ``timeline.js`` ``formatDuration`` implements the same rules.
    """
    s = max(0.0, float(seconds))
    if s < 1:
        return f"{round(s * 1000)} ms"
    if s < 60:
        txt = f"{s:.1f}"
        return (txt[:-2] if txt.endswith(".0") else txt) + " s"
    whole = int(s)
    if whole < 3600:
        m, sec = divmod(whole, 60)
        return f"{m} min {sec} s" if sec else f"{m} min"
    if whole < 86400:
        h, m = divmod(whole // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(whole // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def short_duration(seconds: float) -> str:
    """``format_duration`` cut to its largest unit (``3 h``, ``4 min``), for gap labels."""
    return " ".join(format_duration(seconds).split(" ")[:2])
