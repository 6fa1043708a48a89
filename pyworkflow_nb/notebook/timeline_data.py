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
                                    # (+ "continued_as", the next run of its chain;
                                    # + "forked_from", the run it was forked from;
                                    # + "previous_attempt", its attempt before a restart;
                                    # + "parent_run_id", "continued_from" when the
                                    # caller knows them)
      "rows": [row, ...],           # the workflow's own row first, then steps /
                                    # sleeps / waits / children in order of first appearance
      "markers": [{"ts", "kind": "event" | "signal" | "update" | "patch" | "fork" | "cancel",
                   "label", "text"}, ...],
      "gaps": [{"start", "end", "verb", "label", "open"}, ...],
      "progress": {"done", "failed", "total"},   # step and child rows
    }                               # optional "live": False stops a front-end from
                                    # moving a running run's clock on by itself

    row     = {"id", "kind": "workflow"|"step"|"sleep"|"wait"|"child"|"pause", "name", "n",
               "label",
               "status", "segments": [segment, ...]}   # child rows add "run_id"
    segment = {"attempt": int | None, "start", "end": float | None (open),
               "status", "until": float | None, "input": str | None,
               "output": str | None, "error": {"type", "message", "traceback"} | None,
               "truncated": bool}

Events folded in: ``workflow.started/completed/failed/cancelled/cancel_requested/retried``
(a retried run gets a new workflow segment), ``step.started/completed/failed/cancelled``,
``timer.started/fired``, ``wait.started/completed/timed_out``,
``child.started/completed/failed`` (a child workflow's row), ``event.received``,
``signal.received``, ``update.accepted``, ``patch.recorded`` and ``workflow.forked``
(markers), ``workflow.restarted`` (the link to the earlier attempt),
``workflow.paused/resumed`` (the spans of a ``paused`` row), ``workflow.terminated``;
``value.recorded`` and unknown types only count as instants for gap detection.

Statuses: ``running completed failed retrying sleeping waiting cancelled terminated paused
pending``
(the front-ends colour any other status, e.g. a store status set by the caller, grey).
A step gets one segment per attempt; the wait between a failed attempt and the
next one is its own segment with status ``retrying`` (its ``attempt`` is the failed
attempt's number, ``until`` the planned ``retry_at``).  Open segments have
``end=None``; a live front-end draws them up to its own clock.  Times are epoch
seconds rounded to ms.  Display strings come from ``timeline_text``, cut to a
per-state budget (``text_limit``) so a 1,000-step state stays well under 1 MB;
``truncated`` says so.  ``gaps`` come from ``timeline_layout.find_gaps``.

Message protocol (anywidget custom messages, ``model.send`` / ``widget.send``):

* kernel -> view ``{"type": "delta", "delta": diff_state(old, new)}``: apply to the
  view's copy of the state.  A delta whose ``base`` is not the view's ``seq`` is
  dropped and the view sends ``{"type": "resync"}``.
* kernel -> view ``{"type": "state", "state": {...}}`` (or a change of the ``state``
  trait): replace the whole state.
* view -> kernel ``{"type": "resync"}``: send the full state again.
* view -> kernel ``{"type": "sync", "seq": n}``: sent by every new view, which starts
  from the ``state`` trait (deltas do not update it); the kernel answers with the full
  state only when its own ``seq`` is not ``n``.
* view -> kernel ``{"type": "open", "run_id": str}``: show that run (a child row's
  ``run_id`` or the header's ``parent_run_id``) instead; the kernel sets the ``state`` trait.
* view -> kernel ``{"type": "details", "row": id, "attempt": n | None, "req": str}``:
  the kernel replies ``details_for(events, row, attempt, req=req)``, i.e.
  ``{"type": "details", "req", "row", "attempt", "found", "input", "output",
  "error", "extra", "truncated"}`` with values untruncated up to
  ``timeline_text.DETAIL_CHARS``.

Runs-table widget (``runs`` trait = list of run rows):

* view -> kernel ``{"type": "action", "action": "cancel" | "retry" | "timeline",
  "run_id": str}`` and ``{"type": "action", "action": "send_event", "run_id",
  "event": str, "payload": any JSON}``.
* kernel -> view ``{"type": "action_result", "action", "run_id", "ok": bool,
  "message": str}`` (shown as a status line).
"""

from __future__ import annotations

import math
from typing import Any

from ..history import vocabulary as vocab
from .timeline_layout import find_gaps
from .timeline_text import (
    DETAIL_CHARS,
    TEXT_BUDGET,
    _format_call,
    _format_error,
    format_value,
    text_limit,
)

__all__ = [
    "STATUSES",
    "WORKFLOW_ROW",
    "apply_delta",
    "build_state",
    "details_for",
    "diff_state",
]

WORKFLOW_ROW = "workflow"
PAUSED_ROW = "paused"
STATUSES = (
    "running",
    "completed",
    "failed",
    "retrying",
    "sleeping",
    "waiting",
    "cancelled",
    "terminated",
    "continued",
    "paused",
    "pending",
)


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
    __slots__ = ("id", "kind", "run_id", "segments")

    def __init__(self, row_id: str, kind: str) -> None:
        self.id = row_id
        self.kind = kind
        self.run_id: str | None = None  # a child row's run
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

        if typ == vocab.WORKFLOW_STARTED:
            run["workflow"] = data.get("workflow")
            run["version"] = data.get("version")
            run["start"] = ts
            if not wf.segments:
                seg = _Seg(None, ts, "running")
                seg.input, seg.input_kind = data.get("input"), "call"
                wf.segments.append(seg)
        elif typ in (vocab.WORKFLOW_COMPLETED, vocab.WORKFLOW_FAILED, vocab.WORKFLOW_CANCELLED,
                     vocab.WORKFLOW_TERMINATED, vocab.WORKFLOW_CONTINUED):
            if typ == vocab.WORKFLOW_CONTINUED:
                run["continued_as"] = data.get("run_id")
            terminal = typ.split(".")[1]
            run["end"] = ts
            if not wf.segments:
                wf.segments.append(_Seg(None, run["start"], "running"))
            seg = wf.segments[-1]
            seg.end, seg.status = ts, terminal
            if typ == vocab.WORKFLOW_COMPLETED:
                seg.output = data.get("result")
            elif typ == vocab.WORKFLOW_FAILED:
                seg.error = data.get("error")
            _close_open(rows, ts, terminal)
        elif typ == vocab.WORKFLOW_RETRIED:  # a finished run runs again: a new workflow segment
            terminal, run["end"], run["cancel_requested"] = None, None, False
            wf.segments.append(_Seg(None, ts, "running"))
        elif typ == vocab.WORKFLOW_PAUSED:  # each pause a span of the "paused" row
            _new_seg(row_for(PAUSED_ROW, "pause"), ts, "paused")
        elif typ == vocab.WORKFLOW_RESUMED:
            span = row_for(PAUSED_ROW, "pause").open_seg()
            if span is not None:
                span.end, span.status = ts, "completed"
        elif typ == vocab.WORKFLOW_CANCEL_REQUESTED:
            run["cancel_requested"] = True
            raw_markers.append((ts, "cancel", "cancel requested", _NOTHING))
        elif typ == vocab.EVENT_RECEIVED:
            raw_markers.append((ts, "event", str(data.get("event", "")), data.get("payload")))
        elif typ == vocab.SIGNAL_RECEIVED:
            raw_markers.append((ts, "signal", str(data.get("signal", "")), data.get("args")))
        elif typ == vocab.UPDATE_ACCEPTED:
            raw_markers.append((ts, "update", str(data.get("update", "")), data.get("args")))
        elif typ == vocab.PATCH_RECORDED:
            raw_markers.append((ts, "patch", str(step or ""), _NOTHING))
        elif typ == vocab.WORKFLOW_RESTARTED:  # the earlier attempt is another run now
            run["previous_attempt"] = data.get("previous_run_id")
        elif typ == vocab.WORKFLOW_FORKED:  # what came before was copied from another run
            run["forked_from"] = data.get("run_id")
            raw_markers.append((ts, "fork", f"from {data.get('run_id')} at {data.get('step')}",
                                _NOTHING))
        elif not step:
            continue
        elif typ == vocab.STEP_STARTED:
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
        elif typ == vocab.STEP_CANCELLED:
            seg = _attempt_seg(row_for(step, "step"), ev.get("attempt"), ts)
            seg.end, seg.status = ts, "cancelled"
        elif typ in (vocab.STEP_COMPLETED, vocab.STEP_FAILED):
            r = row_for(step, "step")
            seg = _attempt_seg(r, ev.get("attempt"), ts)
            seg.end = ts
            if typ == vocab.STEP_COMPLETED:
                seg.status, seg.output = "completed", data.get("result")
            else:
                seg.status, seg.error = "failed", data.get("error")
                final = data.get("final")
                if final is False or (final is None and data.get("retry_at") is not None):
                    wait = _Seg(seg.attempt, ts, "retrying")
                    wait.until = _t(data.get("retry_at"))
                    r.segments.append(wait)
        elif typ == vocab.TIMER_STARTED:
            r = row_for(step, "sleep")
            seg = _Seg(None, ts, "sleeping")
            seg.until = _t(data.get("until"))
            r.segments.append(seg)
        elif typ in (vocab.TIMER_FIRED, vocab.TIMER_CANCELLED):
            r = row_for(step, "sleep")
            seg = r.open_seg() or _new_seg(r, ts, "sleeping")
            seg.end = ts
            seg.status = "completed" if typ == vocab.TIMER_FIRED else "cancelled"
        elif typ == vocab.WAIT_STARTED:
            r = row_for(step, "wait")
            seg = _Seg(None, ts, "waiting")
            seg.until = _t(data.get("timeout_at"))
            seg.input, seg.input_kind = _wait_input(data), "text"
            r.segments.append(seg)
        elif typ in (vocab.WAIT_COMPLETED, vocab.WAIT_TIMED_OUT):
            r = row_for(step, "wait")
            seg = r.open_seg() or _new_seg(r, ts, "waiting")
            seg.end = ts
            if typ == vocab.WAIT_COMPLETED:
                seg.status, seg.output = "completed", data.get("payload")
            else:
                seg.status = "failed"
                seg.error = {
                    "type": "EventTimeout",
                    "message": f"no {data.get('event', '')!r} event before the timeout",
                }
        elif typ == vocab.CHILD_STARTED:  # each child run of the command one segment
            r = row_for(step, "child")
            r.run_id = data.get("run_id")
            prev = r.open_seg()
            if prev is not None:  # the wait before this retry
                prev.end = ts
            r.segments.append(_Seg(ev.get("attempt"), ts, "running"))
        elif typ in (vocab.CHILD_COMPLETED, vocab.CHILD_FAILED):
            r = row_for(step, "child")
            seg = r.open_seg() or _new_seg(r, ts, "running")
            seg.end = ts
            if typ == vocab.CHILD_COMPLETED:
                seg.status, seg.output = "completed", data.get("result")
            else:
                seg.status, seg.error = "failed", data.get("error")
                if data.get("final") is False:
                    wait = _Seg(seg.attempt, ts, "retrying")
                    wait.until = _t(data.get("retry_at"))
                    r.segments.append(wait)
        # value.recorded and unknown types: only a point in time (for gap detection)

    # the run's status
    open_kinds = set()
    for r in rows.values():
        open_seg = r.open_seg()
        if open_seg is not None and r.kind != "workflow":
            open_kinds.add(open_seg.status)
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
        if row["kind"] in ("step", "child"):
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
    if r.kind in ("workflow", "pause"):
        name, n, label = r.id, 1, r.id
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
    row = {
        "id": r.id,
        "kind": r.kind,
        "name": name,
        "n": n,
        "label": label,
        "status": status,
        "segments": segs,
    }
    if r.kind == "child":
        row["run_id"] = r.run_id
    return row


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
        if typ in (vocab.WORKFLOW_STARTED, vocab.STEP_STARTED):
            raw.pop("output", None)
            raw.pop("error", None)
            raw["input"] = ("call", data.get("input"))
            if typ == vocab.WORKFLOW_STARTED:
                reply["extra"]["workflow"] = data.get("workflow")
                reply["extra"]["version"] = data.get("version")
        elif typ in (vocab.WORKFLOW_COMPLETED, vocab.STEP_COMPLETED, vocab.CHILD_COMPLETED):
            raw["output"] = data.get("result")
        elif typ == vocab.CHILD_STARTED:
            reply["extra"]["run_id"] = data.get("run_id")
        elif typ in (vocab.WORKFLOW_FAILED, vocab.STEP_FAILED, vocab.CHILD_FAILED):
            raw["error"] = data.get("error")
            if typ == vocab.STEP_FAILED:
                reply["extra"]["retry_at"] = data.get("retry_at")
                reply["extra"]["final"] = data.get("final")
        elif typ == vocab.TIMER_STARTED:
            reply["extra"]["until"] = data.get("until")
        elif typ == vocab.WAIT_STARTED:
            raw["input"] = ("text", _wait_input(data))
            reply["extra"]["event"] = data.get("event")
            reply["extra"]["timeout_at"] = data.get("timeout_at")
        elif typ == vocab.WAIT_COMPLETED:
            raw["output"] = data.get("payload")
        elif typ == vocab.WAIT_TIMED_OUT:
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
