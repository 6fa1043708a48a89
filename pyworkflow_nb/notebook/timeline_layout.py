"""Gaps and layout of the run-timeline's time axis.

``find_gaps`` finds the idle stretches of a run that a front-end draws compressed;
``layout`` maps real time to x positions with those gaps squeezed to ``GAP_PX``
each, and ``time_to_x`` reads a position off its pieces.  ``timeline.js`` mirrors
``layout`` (and the constants); keep them in step.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from .timeline_text import short_duration

__all__ = ["GAP_FACTOR", "GAP_PX", "GAP_SHARE", "MIN_GAP_S", "find_gaps", "layout", "time_to_x"]

#: Gap compression: an idle stretch is a gap when longer than both of these.
MIN_GAP_S = 60.0
GAP_FACTOR = 3.0
#: Width of a compressed gap in the layout, and the share of the width gaps may take.
GAP_PX = 60.0
GAP_SHARE = 0.3


def _domain(state: dict[str, Any], now: float | None = None) -> tuple[float, float]:
    run = state["run"]
    t0 = run.get("start")
    if t0 is None:
        t0 = state.get("now") or 0.0
    t1 = run.get("end")
    if t1 is None:
        t1 = now if now is not None else state.get("now", t0)
    return t0, max(t1, t0)


_VERBS = {"sleep": "slept", "wait": "waited", "child": "waited", "pause": "paused",
          "retrying": "retry wait"}


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
                idle.append((seg["start"], end,
                             "retrying" if seg["status"] == "retrying" else kind))
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
    gaps: list[tuple[float, float]] = []
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
