"""Turn a run's event rows into the run-timeline widget's JSON state.

Pure Python (no engine import): the input is the list of event dicts the engine
records (``run_id, seq, ts, type, step, attempt, data``), the output is plain JSON.

State (``build_state``)::

    {
      "v": 1,                       # format version
      "seq": 17,                    # seq of the last event folded in (0 when none)
      "now": 1700000123.5,          # the "now" the state was built for (epoch s)
      "run": {"run_id", "workflow", "version", "status", "start", "end",
              "cancel_requested": bool, "error": {...} | None},
      "rows": [row, ...],           # the workflow's own row first, then steps /
                                    # sleeps / waits in order of first appearance
      "markers": [{"ts", "kind": "event" | "cancel", "label", "text"}, ...],
      "gaps": [{"start", "end", "verb", "label", "open"}, ...],
      "progress": {"done", "failed", "total"},   # step rows only
    }                               # optional "live": False stops a front-end from
                                    # moving a running run's clock on by itself

    row     = {"id", "kind": "workflow"|"step"|"sleep"|"wait", "name", "n", "label",
               "status", "segments": [segment, ...]}
    segment = {"attempt": int | None, "start", "end": float | None (open),
               "status", "until": float | None, "input": str | None,
               "output": str | None, "error": {"type", "message", "traceback"} | None,
               "truncated": bool}

Events folded in: ``workflow.started/completed/failed/cancelled/cancel_requested/retried``
(a retried run gets a new workflow segment), ``step.started/completed/failed/cancelled``,
``timer.started/fired``, ``wait.started/completed/timed_out``, ``event.received`` (a
marker); ``value.recorded`` and unknown types only count as instants for gap detection.

Statuses: ``running completed failed retrying sleeping waiting cancelled pending``
(the front-ends colour any other status, e.g. a store status set by the caller, grey).
A step gets one segment per attempt; the wait between a failed attempt and the
next one is its own segment with status ``retrying`` (its ``attempt`` is the failed
attempt's number, ``until`` the planned ``retry_at``).  Open segments have
``end=None``; a live front-end draws them up to its own clock.  Times are epoch
seconds rounded to ms.  Display strings are cut to a per-state budget (see
``text_limit``) so a 1,000-step state stays well under 1 MB; ``truncated`` says so.
Values are shown as compact JSON, top-level strings as-is, and pickle envelopes
(``{"__pw_pickle__": ..., "repr": ...}``) as their ``repr``.

Message protocol (anywidget custom messages, ``model.send`` / ``widget.send``):

* kernel -> view ``{"type": "delta", "delta": diff_state(old, new)}``: apply to the
  view's copy of the state.  A delta whose ``base`` is not the view's ``seq`` is
  dropped and the view sends ``{"type": "resync"}``.
* kernel -> view ``{"type": "state", "state": {...}}`` (or a change of the ``state``
  trait): replace the whole state.
* view -> kernel ``{"type": "resync"}``: send the full state again (a new view starts
  from the ``state`` trait, so a kernel that only sends deltas must answer this).
* view -> kernel ``{"type": "details", "row": id, "attempt": n | None, "req": str}``:
  the kernel replies ``details_for(events, row, attempt, req=req)``, i.e.
  ``{"type": "details", "req", "row", "attempt", "found", "input", "output",
  "error", "extra", "truncated"}`` with values untruncated up to ``DETAIL_CHARS``.

Runs-table widget (``runs`` trait = list of run rows):

* view -> kernel ``{"type": "action", "action": "cancel" | "retry" | "timeline",
  "run_id": str}`` and ``{"type": "action", "action": "send_event", "run_id",
  "event": str, "payload": any JSON}``.
* kernel -> view ``{"type": "action_result", "action", "run_id", "ok": bool,
  "message": str}`` (shown as a status line).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

__all__ = [
    "DETAIL_CHARS",
    "GAP_PX",
    "STATUSES",
    "WORKFLOW_ROW",
    "apply_delta",
    "build_state",
    "details_for",
    "diff_state",
    "find_gaps",
    "format_duration",
    "format_value",
    "layout",
    "short_duration",
    "text_limit",
    "time_to_x",
]

WORKFLOW_ROW = "workflow"
STATUSES = (
    "running",
    "completed",
    "failed",
    "retrying",
    "sleeping",
    "waiting",
    "cancelled",
    "pending",
)
TERMINAL = frozenset({"completed", "failed", "cancelled"})
PICKLE_KEY = "__pw_pickle__"

#: Total characters of display text one state may hold, shared by all its values.
TEXT_BUDGET = 300_000
#: Bounds of the per-value cut derived from the budget.
MIN_CHARS, MAX_CHARS = 80, 2000
#: Cut for the full values of a details reply.
DETAIL_CHARS = 1_000_000

#: Gap compression: an idle stretch is a gap when longer than both of these.
MIN_GAP_S = 60.0
GAP_FACTOR = 3.0
#: Width of a compressed gap in the layout, and the share of the width gaps may take.
GAP_PX = 60.0
GAP_SHARE = 0.3

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


# ---------------------------------------------------------------------------
# building the state


def _split_step_id(step_id: str) -> tuple[str, int]:
    name, sep, n = step_id.rpartition("#")
    if sep and n.isdigit():
        return name, int(n)
    return step_id, 1


def _t(ts: Any) -> float | None:
    if ts is None:
        return None
    return round(float(ts), 3)


class _Seg:
    """A segment under construction: raw values are formatted once, at the end."""

    __slots__ = (
        "attempt",
        "end",
        "error",
        "input",
        "input_kind",
        "output",
        "start",
        "status",
        "until",
    )

    def __init__(self, attempt: int | None, start: float, status: str) -> None:
        self.attempt = attempt
        self.start = start
        self.end: float | None = None
        self.status = status
        self.until: float | None = None
        self.input: Any = None
        self.input_kind = ""  # "call" (args/kwargs), "text" (already display text) or ""
        self.output: Any = _NOTHING
        self.error: Any = None


_NOTHING: Any = object()


class _Row:
    __slots__ = ("id", "kind", "segments")

    def __init__(self, row_id: str, kind: str) -> None:
        self.id = row_id
        self.kind = kind
        self.segments: list[_Seg] = []

    def open_seg(self) -> _Seg | None:
        if self.segments and self.segments[-1].end is None:
            return self.segments[-1]
        return None


def _sorted_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev = -math.inf
    for ev in events:
        s = ev.get("seq") or 0
        if s < prev:
            return sorted(events, key=lambda e: e.get("seq") or 0)
        prev = s
    return events


def build_state(
    events: list[dict[str, Any]], now: float, *, budget: int = TEXT_BUDGET
) -> dict[str, Any]:
    """Fold a run's event rows into the widget state (see the module docstring).

    ``now`` is the clock used for open spans and trailing gaps; ``budget`` is the
    total display characters shared by all inputs/outputs/errors of the state.
    """
    events = _sorted_events(events)
    now = _t(now) or 0.0
    run: dict[str, Any] = {
        "run_id": None,
        "workflow": None,
        "version": None,
        "status": "pending",
        "start": None,
        "end": None,
        "cancel_requested": False,
        "error": None,
    }
    rows: dict[str, _Row] = {}
    wf = _Row(WORKFLOW_ROW, "workflow")
    rows[WORKFLOW_ROW] = wf
    markers: list[dict[str, Any]] = []
    raw_markers: list[tuple[float, str, str, Any]] = []
    points: list[float] = []
    terminal: str | None = None
    last_seq = 0

    def row_for(step: str, kind: str) -> _Row:
        r = rows.get(step)
        if r is None:
            r = rows[step] = _Row(step, kind)
        return r

    for ev in events:
        typ = ev.get("type") or ""
        ts = _t(ev.get("ts")) or 0.0
        data = ev.get("data") or {}
        step = ev.get("step")
        last_seq = ev.get("seq") or last_seq
        points.append(ts)
        if run["run_id"] is None:
            run["run_id"] = ev.get("run_id")
        if run["start"] is None:
            run["start"] = ts

        if typ == "workflow.started":
            run["workflow"] = data.get("workflow")
            run["version"] = data.get("version")
            run["start"] = ts
            if not wf.segments:
                seg = _Seg(None, ts, "running")
                seg.input, seg.input_kind = data.get("input"), "call"
                wf.segments.append(seg)
        elif typ in ("workflow.completed", "workflow.failed", "workflow.cancelled"):
            terminal = typ.split(".")[1]
            run["end"] = ts
            if not wf.segments:
                wf.segments.append(_Seg(None, run["start"], "running"))
            seg = wf.segments[-1]
            seg.end, seg.status = ts, terminal
            if typ == "workflow.completed":
                seg.output = data.get("result")
            elif typ == "workflow.failed":
                seg.error = data.get("error")
            _close_open(rows, ts, terminal)
        elif typ == "workflow.retried":  # a finished run runs again: a new workflow segment
            terminal, run["end"], run["cancel_requested"] = None, None, False
            wf.segments.append(_Seg(None, ts, "running"))
        elif typ == "workflow.cancel_requested":
            run["cancel_requested"] = True
            raw_markers.append((ts, "cancel", "cancel requested", _NOTHING))
        elif typ == "event.received":
            raw_markers.append((ts, "event", str(data.get("event", "")), data.get("payload")))
        elif not step:
            continue
        elif typ == "step.started":
            r = row_for(step, "step")
            prev = r.open_seg()
            if prev is not None:
                prev.end = ts
                if prev.status == "running":  # an attempt that never reported back
                    prev.status = "failed"
                    prev.error = {"type": "Interrupted", "message": "attempt did not finish"}
            seg = _Seg(ev.get("attempt") or len(r.segments) + 1, ts, "running")
            seg.input, seg.input_kind = data.get("input"), "call"
            r.segments.append(seg)
        elif typ == "step.cancelled":
            seg = _attempt_seg(row_for(step, "step"), ev.get("attempt"), ts)
            seg.end, seg.status = ts, "cancelled"
        elif typ in ("step.completed", "step.failed"):
            r = row_for(step, "step")
            seg = _attempt_seg(r, ev.get("attempt"), ts)
            seg.end = ts
            if typ == "step.completed":
                seg.status, seg.output = "completed", data.get("result")
            else:
                seg.status, seg.error = "failed", data.get("error")
                final = data.get("final")
                if final is False or (final is None and data.get("retry_at") is not None):
                    wait = _Seg(seg.attempt, ts, "retrying")
                    wait.until = _t(data.get("retry_at"))
                    r.segments.append(wait)
        elif typ == "timer.started":
            r = row_for(step, "sleep")
            seg = _Seg(None, ts, "sleeping")
            seg.until = _t(data.get("until"))
            r.segments.append(seg)
        elif typ == "timer.fired":
            r = row_for(step, "sleep")
            seg = r.open_seg() or _new_seg(r, ts, "sleeping")
            seg.end, seg.status = ts, "completed"
        elif typ == "wait.started":
            r = row_for(step, "wait")
            seg = _Seg(None, ts, "waiting")
            seg.until = _t(data.get("timeout_at"))
            seg.input, seg.input_kind = _wait_input(data), "text"
            r.segments.append(seg)
        elif typ in ("wait.completed", "wait.timed_out"):
            r = row_for(step, "wait")
            seg = r.open_seg() or _new_seg(r, ts, "waiting")
            seg.end = ts
            if typ == "wait.completed":
                seg.status, seg.output = "completed", data.get("payload")
            else:
                seg.status = "failed"
                seg.error = {
                    "type": "EventTimeout",
                    "message": f"no {data.get('event', '')!r} event before the timeout",
                }
        # value.recorded and unknown types: only a point in time (for gap detection)

    # the run's status
    open_kinds = set()
    for r in rows.values():
        seg = r.open_seg()
        if seg is not None and r.kind != "workflow":
            open_kinds.add(seg.status)
    if terminal is not None:
        status = terminal
    elif not events:
        status = "pending"
    else:
        status = next(
            (s for s in ("running", "retrying", "waiting", "sleeping") if s in open_kinds),
            "running",
        )
    run["status"] = status
    if wf.segments and wf.segments[-1].end is None:
        wf.segments[-1].status = status

    # format display values within the budget
    n_texts = len(raw_markers)
    for r in rows.values():
        for s in r.segments:
            n_texts += (
                (s.input is not None) + (s.output is not _NOTHING) + 2 * (s.error is not None)
            )
    limit = text_limit(n_texts, budget)

    out_rows = [_row_json(r, limit) for r in rows.values()]  # the workflow row is first
    out_rows[0]["status"] = status
    run["error"] = out_rows[0]["segments"][-1]["error"] if out_rows[0]["segments"] else None
    for ts, kind, label, payload in raw_markers:
        text = None if payload is _NOTHING else format_value(payload, limit)[0]
        markers.append({"ts": ts, "kind": kind, "label": label, "text": text})

    done = failed = total = 0
    for row in out_rows:
        if row["kind"] == "step":
            total += 1
            done += row["status"] == "completed"
            failed += row["status"] == "failed"

    state: dict[str, Any] = {
        "v": 1,
        "seq": last_seq,
        "now": now,
        "run": run,
        "rows": out_rows,
        "markers": markers,
        "gaps": [],
        "progress": {"done": done, "failed": failed, "total": total},
    }
    state["gaps"] = find_gaps(state, points)
    return state


def _close_open(rows: dict[str, _Row], ts: float, terminal: str) -> None:
    """Close the open segments of a run that just finished as ``terminal``."""
    for r in rows.values():
        seg = r.open_seg()
        if seg is None or r.kind == "workflow":
            continue
        seg.end = max(ts, seg.start)
        seg.status = "failed" if terminal == "failed" and seg.status == "running" else "cancelled"


def _new_seg(r: _Row, ts: float, status: str) -> _Seg:
    seg = _Seg(None, ts, status)
    r.segments.append(seg)
    return seg


def _attempt_seg(r: _Row, attempt: int | None, ts: float) -> _Seg:
    """The segment of ``attempt`` (the open one if unknown); made if missing."""
    for seg in reversed(r.segments):
        if seg.status == "retrying":
            continue
        if attempt is None or seg.attempt == attempt:
            return seg
        break
    seg = _Seg(attempt or len(r.segments) + 1, ts, "running")
    r.segments.append(seg)
    return seg


def _wait_input(data: dict[str, Any]) -> str:
    text = f"event {data.get('event', '')!r}"
    if data.get("timeout_at") is not None:
        text += f", timeout at {data['timeout_at']}"
    return text


def _row_json(r: _Row, limit: int) -> dict[str, Any]:
    if r.kind == "workflow":
        name, n, label = WORKFLOW_ROW, 1, "workflow"
    else:
        name, n = _split_step_id(r.id)
        label = f"{name} #{n}" if n > 1 else name
    segs = []
    for s in r.segments:
        cut = False
        inp = None
        if s.input_kind == "call":
            inp, cut = _format_call(s.input, limit)
        elif s.input is not None:
            inp = str(s.input)
        out = None
        if s.output is not _NOTHING:
            out, c = format_value(s.output, limit)
            cut = cut or c
        err = None
        if s.error is not None:
            err, c = _format_error(s.error, limit)
            cut = cut or c
        segs.append(
            {
                "attempt": s.attempt,
                "start": s.start,
                "end": s.end,
                "status": s.status,
                "until": s.until,
                "input": inp,
                "output": out,
                "error": err,
                "truncated": cut,
            }
        )
    status = segs[-1]["status"] if segs else "pending"
    return {
        "id": r.id,
        "kind": r.kind,
        "name": name,
        "n": n,
        "label": label,
        "status": status,
        "segments": segs,
    }


# ---------------------------------------------------------------------------
# gaps and layout


def _domain(state: dict[str, Any], now: float | None = None) -> tuple[float, float]:
    run = state["run"]
    t0 = run.get("start")
    if t0 is None:
        t0 = state.get("now") or 0.0
    t1 = run.get("end")
    if t1 is None:
        t1 = now if now is not None else state.get("now", t0)
    return t0, max(t1, t0)


_VERBS = {"sleep": "slept", "wait": "waited", "retrying": "retry wait"}


def find_gaps(state: dict[str, Any], points: Iterable[float] = ()) -> list[dict[str, Any]]:
    """Idle stretches of the run to compress on the time axis.

    Busy time is the union of step attempts (running, completed, failed...;
    not their ``retrying`` waits), open ones reaching ``now``, plus every event
    timestamp in ``points`` as an instant.  Sleeps, waits and retry waits are idle.
    A stretch between busy time inside ``[run.start, run.end or now]`` is a gap
    when it is longer than ``MIN_GAP_S`` and ``GAP_FACTOR`` x the median length of
    the merged busy spans.  Each gap is labelled by the idle kind overlapping it
    most (``slept 3 h``, ``waited 5 min``, ``retry wait 2 min``, ``idle 1 h``: see
    ``short_duration``);
    ``open`` marks a trailing gap of a live run (a front-end extends it to its clock).
    """
    t0, t1 = _domain(state)
    now = state.get("now", t1)
    busy: list[tuple[float, float]] = [(p, p) for p in points]
    idle: list[tuple[float, float, str]] = []
    busy.append((t0, t0))
    for row in state["rows"]:
        kind = row["kind"]
        if kind == "workflow":
            continue
        for seg in row["segments"]:
            end = seg["end"] if seg["end"] is not None else now
            if kind == "step" and seg["status"] != "retrying":
                busy.append((seg["start"], end))
            else:
                idle.append((seg["start"], end, "retrying" if kind == "step" else kind))
    busy.sort()
    merged: list[list[float]] = []
    for a, b in busy:
        a, b = max(a, t0), min(b, t1)
        if b < a:
            b = a
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1][1] = b
        else:
            merged.append([a, b])
    spans = sorted(b - a for a, b in merged)
    median = spans[len(spans) // 2] if spans else 0.0
    threshold = max(MIN_GAP_S, GAP_FACTOR * median)
    live = state["run"].get("end") is None
    gaps: list[dict[str, Any]] = []
    edges = [(m[1], nxt[0]) for m, nxt in pairwise(merged)]
    if merged:
        edges.append((merged[-1][1], t1))
    for a, b in edges:
        if b - a > threshold:
            gaps.append(
                {"start": a, "end": b, "verb": "idle", "label": "", "open": live and b >= t1}
            )
    if gaps:
        starts = [g["start"] for g in gaps]
        ends = [g["end"] for g in gaps]
        overlap: list[dict[str, float]] = [{} for _ in gaps]
        for a, b, kind in idle:
            lo = bisect_right(ends, a)
            hi = bisect_left(starts, b)
            for i in range(lo, hi):
                o = min(b, ends[i]) - max(a, starts[i])
                if o > 0:
                    overlap[i][kind] = overlap[i].get(kind, 0.0) + o
        for g, ov in zip(gaps, overlap, strict=True):
            if ov:
                g["verb"] = _VERBS[max(ov, key=lambda k: ov[k])]
    for g in gaps:
        g["label"] = f"{g['verb']} {short_duration(g['end'] - g['start'])}"
    return gaps


def layout(
    state: dict[str, Any], width_px: float, *, now: float | None = None
) -> list[dict[str, Any]]:
    """Map real time to x positions with gaps compressed: pieces ``{start, end, x0, x1, gap}``.

    Algorithm (``timeline.js`` ``layout`` is the same, keep them in step):

    1. The domain is ``[run.start, run.end or now]`` (``now`` defaults to the
       state's; an empty domain still maps to the full width).  Gaps are clipped
       to it, empty ones dropped; an ``open`` gap of a live run ends at ``now``.
    2. With ``n`` gaps each gets ``g = min(GAP_PX, GAP_SHARE * width / n)`` px;
       if gaps cover the whole domain they share the width equally.
    3. The rest ``width - n*g`` is spread over the non-gap time linearly, so every
       non-gap piece has the same px-per-second.
    4. Pieces alternate (possibly empty runs skipped) from x=0 to x=width.
    """
    t0, t1 = _domain(state, now)
    gaps = []
    for g in sorted(state.get("gaps", ()), key=lambda g: g["start"]):
        a = max(g["start"], t0)
        b = t1 if (g.get("open") and now is not None) else min(g["end"], t1)
        if gaps and a < gaps[-1][1]:
            a = gaps[-1][1]
        if b > a:
            gaps.append((a, b))
    width = float(width_px)
    if t1 <= t0:
        return [{"start": t0, "end": t1, "x0": 0.0, "x1": width, "gap": False}]
    n = len(gaps)
    gap_time = sum(b - a for a, b in gaps)
    busy_time = (t1 - t0) - gap_time
    if n and busy_time <= 1e-9:
        gpx, scale = width / n, 0.0
    else:
        gpx = min(GAP_PX, GAP_SHARE * width / n) if n else 0.0
        scale = (width - n * gpx) / busy_time
    pieces: list[dict[str, Any]] = []
    x, t = 0.0, t0
    for a, b in gaps:
        if a > t:
            x1 = x + (a - t) * scale
            pieces.append({"start": t, "end": a, "x0": x, "x1": x1, "gap": False})
            x = x1
        pieces.append({"start": a, "end": b, "x0": x, "x1": x + gpx, "gap": True})
        x, t = x + gpx, b
    if t1 > t or not pieces:
        pieces.append({"start": t, "end": t1, "x0": x, "x1": width, "gap": False})
    else:
        pieces[-1]["x1"] = width
    return pieces


def time_to_x(pieces: list[dict[str, Any]], t: float) -> float:
    """x position of time ``t`` under ``layout`` pieces (clamped to the ends)."""
    if not pieces:
        return 0.0
    if t <= pieces[0]["start"]:
        return pieces[0]["x0"]
    lo, hi = 0, len(pieces) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pieces[mid]["start"] <= t:
            lo = mid
        else:
            hi = mid - 1
    p = pieces[lo]
    if t >= p["end"]:
        return p["x1"]
    span = p["end"] - p["start"]
    return p["x0"] + (p["x1"] - p["x0"]) * ((t - p["start"]) / span if span > 0 else 0.0)


# ---------------------------------------------------------------------------
# deltas


def diff_state(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The changes from ``old`` to ``new``, for ``apply_delta`` / ``timeline.js`` ``applyDelta``.

    ``{"base": old.seq, "seq": new.seq, "rows": {id: row}}`` (changed or new rows)
    plus, when they changed: ``"added": [ids]`` (new rows appended in order) or
    ``"order": [all ids]`` (any other change of the row list); ``"run"``,
    ``"gaps"``, ``"progress"``, ``"now"``, ``"v"`` (replaced whole);
    ``"markers_from": k, "markers": [...]`` (markers[k:] replaced).
    """
    delta: dict[str, Any] = {"base": old.get("seq"), "seq": new.get("seq")}
    for key in ("v", "now", "run", "gaps", "progress"):
        if old.get(key) != new.get(key):
            delta[key] = new.get(key)
    old_rows = {r["id"]: r for r in old.get("rows", ())}
    delta["rows"] = {r["id"]: r for r in new["rows"] if old_rows.get(r["id"]) != r}
    old_ids = [r["id"] for r in old.get("rows", ())]
    new_ids = [r["id"] for r in new["rows"]]
    if new_ids[: len(old_ids)] == old_ids:
        if len(new_ids) > len(old_ids):
            delta["added"] = new_ids[len(old_ids) :]
    else:
        delta["order"] = new_ids
    om, nm = old.get("markers", []), new.get("markers", [])
    k = 0
    while k < len(om) and k < len(nm) and om[k] == nm[k]:
        k += 1
    if k < len(om) or k < len(nm):
        delta["markers_from"] = k
        delta["markers"] = nm[k:]
    return delta


def apply_delta(state: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Return a new state: ``state`` with ``delta`` (from ``diff_state``) applied."""
    out = dict(state)
    for key in ("v", "now", "run", "gaps", "progress"):
        if key in delta:
            out[key] = delta[key]
    out["seq"] = delta.get("seq", state.get("seq"))
    changed = delta.get("rows", {})
    by_id = {r["id"]: r for r in state.get("rows", ())}
    if "order" in delta:
        ids = delta["order"]
    else:
        ids = [r["id"] for r in state.get("rows", ())] + list(delta.get("added", ()))
    out["rows"] = [r for r in (changed.get(i) or by_id.get(i) for i in ids) if r is not None]
    if "markers_from" in delta:
        out["markers"] = list(state.get("markers", []))[: delta["markers_from"]] + list(
            delta["markers"]
        )
    return out


# ---------------------------------------------------------------------------
# details replies


def details_for(
    events: list[dict[str, Any]],
    row: str,
    attempt: int | None = None,
    *,
    req: Any = None,
    max_chars: int = DETAIL_CHARS,
) -> dict[str, Any]:
    """The reply to a ``{"type": "details", "row", "attempt"}`` request: full values.

    ``input``/``output`` are pretty display text (cut at ``max_chars``), ``error``
    is ``{"type", "message", "traceback"}`` in full, ``extra`` holds other facts
    (``retry_at``, ``until``, ``timeout_at``...).  ``found`` is false for an unknown row.
    """
    reply: dict[str, Any] = {
        "type": "details",
        "req": req,
        "row": row,
        "attempt": attempt,
        "found": False,
        "input": None,
        "output": None,
        "error": None,
        "extra": {},
        "truncated": False,
    }
    raw: dict[str, Any] = {}
    for ev in _sorted_events(events):
        typ = ev.get("type") or ""
        data = ev.get("data") or {}
        if row == WORKFLOW_ROW:
            if not typ.startswith("workflow."):
                continue
        elif ev.get("step") != row or (
            attempt is not None and ev.get("attempt") not in (None, attempt)
        ):
            continue
        reply["found"] = True
        if typ in ("workflow.started", "step.started"):
            raw.pop("output", None)
            raw.pop("error", None)
            raw["input"] = ("call", data.get("input"))
            if typ == "workflow.started":
                reply["extra"]["workflow"] = data.get("workflow")
                reply["extra"]["version"] = data.get("version")
        elif typ in ("workflow.completed", "step.completed"):
            raw["output"] = data.get("result")
        elif typ in ("workflow.failed", "step.failed"):
            raw["error"] = data.get("error")
            if typ == "step.failed":
                reply["extra"]["retry_at"] = data.get("retry_at")
                reply["extra"]["final"] = data.get("final")
        elif typ == "timer.started":
            reply["extra"]["until"] = data.get("until")
        elif typ == "wait.started":
            raw["input"] = ("text", _wait_input(data))
            reply["extra"]["event"] = data.get("event")
            reply["extra"]["timeout_at"] = data.get("timeout_at")
        elif typ == "wait.completed":
            raw["output"] = data.get("payload")
        elif typ == "wait.timed_out":
            raw["error"] = {
                "type": "EventTimeout",
                "message": f"no {data.get('event', '')!r} event",
            }
    cut = False
    if "input" in raw:
        kind, value = raw["input"]
        if kind == "call":
            reply["input"], cut = _format_call(value, max_chars, indent=2)
        else:
            reply["input"] = value
    if "output" in raw:
        reply["output"], c = format_value(raw["output"], max_chars, indent=2)
        cut = cut or c
    if "error" in raw:
        reply["error"], c = _format_error(raw["error"], max_chars)
        cut = cut or c
    reply["truncated"] = cut
    return reply
