"""Static HTML/SVG rendering of a run timeline and of a runs table.

For outputs that must survive without a live kernel (nbconvert, GitHub): an inline
SVG plus a compact table fallback, styled only with inline attributes (no ``<style>``,
no scripts, no ids).  Every string that comes from user data goes through
``html.escape``.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from typing import Any

from .timeline_layout import layout, time_to_x
from .timeline_text import format_duration, short_duration

__all__ = ["STATUS_COLORS", "axis_ticks", "render_html", "render_runs_table_html"]

#: Fill colour per status (``timeline.js`` ``STATUS_COLORS`` holds the same).
STATUS_COLORS: dict[str, str] = {
    "running": "#2f7fd8",
    "completed": "#2e9e5b",
    "failed": "#d64545",
    "retrying": "#e39b2d",
    "sleeping": "#8e7cc3",
    "waiting": "#3aa8ad",
    "cancelled": "#8a8a8a",
    "terminated": "#5b5b5b",
    "continued": "#6b8fb3",
    "paused": "#c9a227",
    "pending": "#c4c4c4",
    "waiting_for_definition": "#c4c4c4",
}
_UNKNOWN_COLOR = "#9e9e9e"
#: Tick spacings (seconds) the axis picks from.
NICE_STEPS = (
    0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
MIN_TICK_PX = 70.0
FINE_TICK_PX = 110.0  # sub-second labels (HH:MM:SS.f) are longer

LABEL_W = 170
ROW_H = 20
BAR_H = 12
AXIS_H = 36
FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif"


def _color(status: Any) -> str:
    return STATUS_COLORS.get(status, _UNKNOWN_COLOR) if isinstance(status, str) else _UNKNOWN_COLOR


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _cut(text: Any, n: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _n(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _clock(ts: float | None, fmt: str = "%H:%M:%S") -> str:
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(float(ts)).strftime(fmt)
    except (OverflowError, OSError, ValueError):
        return ""


def _tz_offset(ts: float) -> float:
    try:
        off = datetime.fromtimestamp(ts).astimezone().utcoffset()
    except (OverflowError, OSError, ValueError):
        return 0.0
    return off.total_seconds() if off else 0.0


def axis_ticks(pieces: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """``(t, x, label)`` ticks for the non-gap pieces of a layout.

    The spacing is the smallest of ``NICE_STEPS`` at least ``MIN_TICK_PX`` (``FINE_TICK_PX``
    below a second) apart at the layout's scale, aligned to local clock multiples; labels
    are ``HH:MM:SS.f`` below a second, ``HH:MM:SS`` below a minute, ``HH:MM`` below a
    day, else ``MM-DD``.
    """
    scale = next(
        ((p["x1"] - p["x0"]) / (p["end"] - p["start"]) for p in pieces
         if not p["gap"] and p["end"] > p["start"]),
        0.0,
    )  # fmt: skip
    if scale <= 0:
        return []
    step = next((s for s in NICE_STEPS if s * scale >= (FINE_TICK_PX if s < 1 else MIN_TICK_PX)),
                NICE_STEPS[-1])
    apart = (FINE_TICK_PX if step < 1 else MIN_TICK_PX) * 0.6
    fmt = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%m-%d"
    digits = 0 if step >= 1 else 1 if step >= 0.1 else 2 if step >= 0.01 else 3
    off = _tz_offset(pieces[0]["start"])
    out: list[tuple[float, float, str]] = []
    last_x = -math.inf
    for p in pieces:
        if p["gap"]:
            continue
        t = math.ceil((p["start"] + off) / step) * step - off
        while t <= p["end"]:
            x = time_to_x(pieces, t)
            if x - last_x >= apart:
                shown = round(t, digits)
                label = _clock(shown, fmt) + (f"{shown % 1:.{digits}f}"[1:] if digits else "")
                out.append((t, x, label))
                last_x = x
            t += step
    return out


def _badge(status: Any) -> str:
    return (
        f'<span style="display:inline-block;padding:1px 7px;border-radius:9px;'
        f'background:{_color(status)};color:#fff;font-size:11px;font-weight:600">'
        f"{_e(status)}</span>"
    )


def _seg_title(row: dict[str, Any], seg: dict[str, Any], now: float) -> str:
    parts = [str(row.get("label", ""))]
    if seg.get("attempt") is not None and row.get("kind") == "step":
        parts.append(f"attempt {seg['attempt']}")
    parts.append(str(seg.get("status", "")))
    end = seg["end"] if seg.get("end") is not None else now
    parts.append(format_duration(end - seg["start"]))
    if seg.get("until") is not None and seg.get("end") is None:
        parts.append(f"until {_clock(seg['until'])}")
    err = seg.get("error")
    if err:
        parts.append(f"{err.get('type', '')}: {_cut(err.get('message', ''), 200)}")
    return " · ".join(parts)


def render_html(state: dict[str, Any], *, width: int = 860, max_rows: int = 200,
                hint: bool = False) -> str:
    """The run timeline as self-contained HTML: header, inline SVG, table fallback.

    Shows at most ``max_rows`` rows (the rest is counted in a note); ``hint`` adds a line
    naming the magic that opens the interactive timeline (for outputs in a notebook).
    """
    run = state.get("run", {})
    rows = state.get("rows", [])
    shown = rows[:max_rows]
    now = state.get("now") or 0.0
    track_w = max(100, width - LABEL_W - 12)
    pieces = layout(state, track_w)
    height = AXIS_H + ROW_H * len(shown) + 6

    def x_of(t: float) -> float:
        return LABEL_W + time_to_x(pieces, t)

    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11" '
        f'role="img" aria-label="run timeline">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for i in range(len(shown)):
        if i % 2:
            y = AXIS_H + i * ROW_H
            svg.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" fill="#f6f7f9"/>')
    for p in pieces:
        if not p["gap"]:
            continue
        x0, x1 = LABEL_W + p["x0"], LABEL_W + p["x1"]
        gap: dict[str, Any] = next(
            (g for g in state.get("gaps", []) if g["start"] <= p["start"] < g["end"]), {})
        label = gap.get("label") or f"idle {short_duration(p['end'] - p['start'])}"
        svg.append(
            f'<rect x="{_n(x0)}" y="{AXIS_H - 14}" width="{_n(x1 - x0)}" '
            f'height="{height - AXIS_H + 14}" fill="#eeeaf6" stroke="#b9b0d6" '
            f'stroke-dasharray="3 3"><title>{_e(label)}</title></rect>'
        )
        if x1 - x0 >= 40:
            svg.append(
                f'<text x="{_n((x0 + x1) / 2)}" y="{AXIS_H - 17}" text-anchor="middle" '
                f'font-size="10" fill="#5b4e8c">{_e(_cut(label, int((x1 - x0) / 5)))}</text>'
            )
    for _t, x, label in axis_ticks(pieces):
        xx = _n(LABEL_W + x)
        anchor = "end" if x > track_w - 25 else "start" if x < 25 else "middle"
        svg.append(
            f'<line x1="{xx}" y1="{AXIS_H - 4}" x2="{xx}" y2="{height}" stroke="#e3e5e8"/>'
            f'<text x="{xx}" y="{AXIS_H - 6}" text-anchor="{anchor}" fill="#666">{_e(label)}</text>'
        )
    svg.append(f'<line x1="{LABEL_W}" y1="{AXIS_H}" x2="{width}" y2="{AXIS_H}" stroke="#bbb"/>')
    for i, row in enumerate(shown):
        y = AXIS_H + i * ROW_H
        weight = ' font-weight="600"' if row.get("kind") == "workflow" else ""
        if row.get("kind") == "workflow":
            label = str(run.get("workflow") or "workflow")
        else:
            label = str(row.get("label", ""))
        svg.append(
            f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4}" text-anchor="end" fill="#333"'
            f"{weight}>{_e(_cut(label, 26))}<title>{_e(label)}</title></text>"
        )
        faded = row.get("kind") in ("sleep", "wait")
        for seg in row.get("segments", []):
            end = seg["end"] if seg.get("end") is not None else now
            x0, x1 = x_of(seg["start"]), x_of(end)
            status = seg.get("status")
            h = BAR_H - 4 if status == "retrying" else BAR_H
            opacity = ' fill-opacity="0.55"' if faded or status == "retrying" else ""
            svg.append(
                f'<rect x="{_n(x0)}" y="{_n(y + (ROW_H - h) / 2)}" width="{_n(max(2.0, x1 - x0))}" '
                f'height="{h}" rx="2" fill="{_color(status)}"{opacity}>'
                f"<title>{_e(_seg_title(row, seg, now))}</title></rect>"
            )
    for m in state.get("markers", []):
        mx = _n(x_of(m["ts"]))
        color = "#d64545" if m.get("kind") == "cancel" else "#e0a800"
        title = m.get("label", "")
        if m.get("text"):
            title = f"{title}: {_cut(m['text'], 300)}"
        title = f"{m.get('kind', 'event')} {title} at {_clock(m['ts'])}"
        svg.append(
            f"<g><title>{_e(title)}</title>"
            f'<line x1="{mx}" y1="{AXIS_H}" x2="{mx}" y2="{height}" stroke="{color}" '
            f'stroke-dasharray="2 2"/>'
            f'<path d="M{mx} {AXIS_H} l-4 -6 h8 z" fill="{color}"/></g>'
        )
    svg.append("</svg>")

    progress = state.get("progress", {})
    done, total = int(progress.get("done", 0)), int(progress.get("total", 0))
    failed = int(progress.get("failed", 0))
    pct = 100.0 * done / total if total else 0.0
    start, end = run.get("start"), run.get("end")
    took = format_duration((end if end is not None else now) - start) if start else ""
    header = (
        f'<div style="display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:0 0 6px 0">'
        f'<strong style="font-size:14px">{_e(run.get("workflow") or "run")}</strong>'
        f"{_badge(run.get('status'))}"
        f'<code style="font-size:11px;color:#666">{_e(run.get("run_id"))}</code>'
        f'<span style="color:#666">{_e(_clock(start, "%Y-%m-%d %H:%M:%S"))}'
        f"{' · ' + _e(took) if took else ''}</span>"
        f'<span style="display:inline-flex;align-items:center;gap:6px">'
        f'<span style="display:inline-block;width:120px;height:8px;background:#e3e5e8;'
        f'border-radius:4px;overflow:hidden"><span style="display:block;height:8px;'
        f'width:{pct:.1f}%;background:{STATUS_COLORS["completed"]}"></span></span>'
        f"<span>{done} done / {total} total{f' · {failed} failed' if failed else ''}"
        f"</span></span></div>"
    )
    err = run.get("error")
    if err:
        header += (
            f'<div style="color:#b03030;margin:0 0 6px 0"><strong>{_e(err.get("type"))}</strong>: '
            f"{_e(_cut(err.get('message'), 500))}</div>"
        )
    more = ""
    if len(rows) > len(shown):
        more = (
            f'<div style="color:#666;margin:4px 0">… {len(rows) - len(shown)} more rows '
            f"not shown</div>"
        )
    if hint and run.get("run_id"):
        more += (
            f'<div style="color:#666;margin:4px 0">Interactive timeline (click a bar for its '
            f"details): <code>%wf show {_e(run['run_id'])}</code></div>"
        )
    return (
        f'<div class="pw-timeline-static" style="font-family:{FONT};font-size:12px;'
        f'color:#222;max-width:{width}px">'
        f"{header}"
        f'<div style="overflow-x:auto">{"".join(svg)}</div>{more}'
        f"{_table(shown, now)}</div>"
    )


_TH = 'style="text-align:left;padding:2px 8px;border-bottom:1px solid #ccc"'
_TD = 'style="text-align:left;padding:2px 8px;vertical-align:top"'


def _table(rows: list[dict[str, Any]], now: float) -> str:
    head = "".join(
        f"<th {_TH}>{h}</th>" for h in ("step", "status", "attempts", "start", "took", "result")
    )
    body = []
    for row in rows:
        segs = row.get("segments", [])
        attempts = sum(1 for s in segs if s.get("status") != "retrying")
        start = segs[0]["start"] if segs else None
        last = segs[-1] if segs else {}
        end = last.get("end") if last.get("end") is not None else now
        took = format_duration(end - start) if start is not None else ""
        shown = ""
        err = last.get("error")
        if err:
            shown = f"{err.get('type', '')}: {err.get('message', '')}"
        elif last.get("output") is not None:
            shown = last["output"]
        body.append(
            f"<tr><td {_TD}>{_e(row.get('label'))}</td>"
            f"<td {_TD}>{_badge(row.get('status'))}</td>"
            f"<td {_TD}>{attempts if row.get('kind') == 'step' else ''}</td>"
            f"<td {_TD}>{_e(_clock(start))}</td><td {_TD}>{_e(took)}</td>"
            f'<td {_TD}><code style="white-space:pre-wrap;word-break:break-all">'
            f"{_e(_cut(shown, 160))}</code></td></tr>"
        )
    return (
        '<table style="border-collapse:collapse;margin-top:8px;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _when(value: Any) -> tuple[float, str]:
    """A run-row timestamp (epoch number, ISO string, datetime or None) as (sort key, text)."""
    if value is None or value == "":
        return -math.inf, ""
    if isinstance(value, datetime):
        return value.timestamp(), value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (int, float)):
        return float(value), _clock(value, "%Y-%m-%d %H:%M:%S")
    text = str(value)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return -math.inf, text
    return dt.timestamp(), dt.strftime("%Y-%m-%d %H:%M:%S")


def _error_text(err: Any) -> str:
    if not err:
        return ""
    if isinstance(err, dict):
        return f"{err.get('type', 'Error')}: {err.get('message', '')}"
    return str(err)


def render_runs_table_html(runs: list[dict[str, Any]]) -> str:
    """A list of run rows (``run_id, workflow, status, created_at, finished_at, error``)
    as an HTML table, newest first, every value escaped."""
    ordered = sorted(runs, key=lambda r: _when(r.get("created_at"))[0], reverse=True)
    head = "".join(
        f"<th {_TH}>{h}</th>"
        for h in ("run", "workflow", "status", "created", "finished", "took", "error")
    )
    body = []
    for r in ordered:
        c_key, created = _when(r.get("created_at"))
        f_key, finished = _when(r.get("finished_at"))
        took = format_duration(f_key - c_key) if math.isfinite(c_key + f_key) else ""
        err = _error_text(r.get("error"))
        body.append(
            f'<tr><td {_TD}><code title="{_e(r.get("run_id"))}">{_e(_cut(r.get("run_id"), 14))}'
            f"</code></td><td {_TD}>{_e(r.get('workflow'))}</td>"
            f"<td {_TD}>{_badge(r.get('status'))}</td>"
            f"<td {_TD}>{_e(created)}</td><td {_TD}>{_e(finished)}</td><td {_TD}>{_e(took)}</td>"
            f'<td {_TD} title="{_e(_cut(err, 1000))}">{_e(_cut(err, 120))}</td></tr>'
        )
    if not body:
        body.append('<tr><td colspan="7" style="padding:2px 8px;color:#666">no runs</td></tr>')
    return (
        f'<div class="pw-runs-static" style="font-family:{FONT};font-size:12px;color:#222">'
        '<table style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
