"""Static, escaped HTML and text for runs, run lists, event lists and query results.

Every value that comes from user data (names, arguments, results, errors, SQL values) goes
through ``html.escape``; the output holds no scripts, so it survives nbconvert and GitHub.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..client import event_dict
from ..durations import iso_utc
from .static_timeline import render_html, render_runs_table_html
from .timeline_data import build_state

if TYPE_CHECKING:
    from ..engine import Engine
    from ..store import RunRow

__all__ = ["EventList", "QueryResult", "RunList", "ScheduleList", "VerdictList", "html_table",
           "run_html", "run_row_dict", "text_table"]

_CELL_CHARS = 200
_TABLE = ('<table style="border-collapse:collapse;font-size:12px;'
          'font-family:monospace">')
_CELL = 'style="border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"'


def _text(value: Any) -> str:
    """One value as short display text (JSON for containers)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=repr)
    else:
        text = str(value)
    return text if len(text) <= _CELL_CHARS else text[:_CELL_CHARS - 1] + "…"


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
               caption: str = "") -> str:
    """An HTML table of ``rows`` under ``columns``, every value escaped."""
    head = "".join(f"<th {_CELL}>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td {_CELL}>{escape(_text(v))}</td>" for v in row) + "</tr>"
        for row in rows)
    cap = f"<caption style='text-align:left'>{escape(caption)}</caption>" if caption else ""
    return f"{_TABLE}{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The same table as aligned plain text."""
    cells = [[str(c) for c in columns], *[[_text(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in cells)


def run_html(engine: Engine, run_id: str, *, hint: bool = False) -> str:
    """A run as its static timeline (header, SVG and table), escaped; ``hint`` names the
    magic that opens the interactive one.

    Takes the engine rather than a handle so that live updates, which run on the engine's
    loop, never wait for the runtime's lock.
    """
    state = build_state([event_dict(e) for e in engine.events(run_id)], engine.clock.now())
    state["run"]["status"] = engine.get_row(run_id).status
    return render_html(state, hint=hint)


def run_row_dict(row: RunRow) -> dict[str, Any]:
    """A run's row as the runs tables show it (epoch times, parsed error)."""
    return {"run_id": row.run_id, "workflow": row.workflow, "status": row.status,
            "created_at": row.created_at, "finished_at": row.finished_at,
            "error": json.loads(row.error) if row.error else None}


class RunList(list):  # type: ignore[type-arg]
    """Run handles (``%wf runs``) that display as a table."""

    _COLUMNS = ("run_id", "workflow", "status", "created_at", "finished_at", "error")

    def _rows(self) -> list[dict[str, Any]]:
        return [run_row_dict(h.row()) for h in self]

    def _repr_html_(self) -> str:
        return render_runs_table_html(self._rows())

    def __repr__(self) -> str:
        rows = [[r["run_id"], r["workflow"], r["status"], iso_utc(r["created_at"]),
                 iso_utc(r["finished_at"]) if r["finished_at"] else "",
                 (r["error"] or {}).get("message", "")] for r in self._rows()]
        return text_table(self._COLUMNS, rows) if rows else "no runs"


class EventList(list):  # type: ignore[type-arg]
    """A run's events (``%wf events``) that display as a table."""

    _COLUMNS = ("seq", "ts", "type", "step", "attempt", "data")

    def _rows(self) -> list[list[Any]]:
        return [[e["seq"], iso_utc(e["ts"]), e["type"], e["step"], e["attempt"], e["data"]]
                for e in self]

    def _repr_html_(self) -> str:
        return html_table(self._COLUMNS, self._rows())

    def __repr__(self) -> str:
        return text_table(self._COLUMNS, self._rows()) if self else "no events"


class VerdictList(list):  # type: ignore[type-arg]
    """Replay verdicts (``%wf replay``) that display as a table, divergences in full."""

    _COLUMNS = ("run_id", "workflow", "verdict", "detail")

    def _rows(self) -> list[list[Any]]:
        return [[v.run_id, v.workflow, "ok" if v.ok else "DIVERGED", v.detail] for v in self]

    def _caption(self) -> str:
        diverged = sum(not v.ok for v in self)
        return (f"{len(self)} runs replayed: all fit the code" if not diverged
                else f"{len(self)} runs replayed: {diverged} diverged")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td {_CELL}>{escape(v.run_id)}</td><td {_CELL}>{escape(v.workflow)}</td>"
            f"<td {_CELL} style='color:{'#2e9e5b' if v.ok else '#d64545'}'>"
            f"{'ok' if v.ok else 'DIVERGED'}</td>"
            f"<td {_CELL}><pre style='margin:0;white-space:pre-wrap'>{escape(v.detail)}</pre>"
            "</td></tr>" for v in self)
        head = "".join(f"<th {_CELL}>{c}</th>" for c in self._COLUMNS)
        return (f"{_TABLE}<caption style='text-align:left'>{escape(self._caption())}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        if not self:
            return "no runs to replay"
        return "\n".join([self._caption(), *(str(v) for v in self)])


class QueryResult:
    """SQL results without pandas: ``columns`` and ``rows``, displayed as a table."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def _repr_html_(self) -> str:
        return html_table(self.columns, self.rows, caption=f"{len(self.rows)} rows")

    def __repr__(self) -> str:
        return text_table(self.columns, self.rows)


class ScheduleList(list):  # type: ignore[type-arg]
    """Schedule descriptions (``%wf schedules``) that display as a table."""

    _COLUMNS = ("schedule_id", "workflow", "status", "when", "next fire", "fires", "last run")

    def _rows(self) -> list[list[Any]]:
        rows = []
        for d in self:
            when = d.get("cron") or (f"every {d['every']} s" if d.get("every") else "")
            upcoming = d["next_fire_times"][0] if d["next_fire_times"] else ""
            last = d["last_runs"][0]["run_id"] if d["last_runs"] else ""
            rows.append([d["schedule_id"], d["workflow"], d["status"], when, upcoming,
                         d["fire_count"], last])
        return rows

    def _repr_html_(self) -> str:
        return html_table(self._COLUMNS, self._rows(), caption=f"{len(self)} schedules")

    def __repr__(self) -> str:
        return text_table(self._COLUMNS, self._rows())
