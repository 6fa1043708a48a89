"""What the command line prints: aligned tables, JSON, and a run's steps as text bars."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

BAR_WIDTH = 40


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 60) -> str:
    """Rows under a header, each column as wide as its widest value (cut at ``limit``)."""
    cells = [[_cell(v)[:limit] for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def csv_lines(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().rstrip("\n")


def step_bars(steps: Sequence[dict[str, Any]]) -> list[str]:
    """One line per step: a bar placed on the run's span, its status and duration."""
    spans = [(s["started_at"], s["finished_at"] or s["started_at"]) for s in steps
             if s.get("started_at") is not None]
    if not spans:
        return []
    t0 = min(a for a, _ in spans)
    total = max((b - t0).total_seconds() for _, b in spans) or 1.0
    name_w = max(len(str(s["step_id"])) for s in steps)
    lines = []
    for s in steps:
        start = s["started_at"]
        end = s["finished_at"] or start
        left = int(BAR_WIDTH * (start - t0).total_seconds() / total)
        width = max(1, round(BAR_WIDTH * (end - start).total_seconds() / total))
        bar = (" " * left + "#" * width)[:BAR_WIDTH].ljust(BAR_WIDTH)
        took = "" if s.get("duration_ms") is None else f"{s['duration_ms']} ms"
        lines.append(f"{str(s['step_id']).ljust(name_w)}  |{bar}|  {s['status']:<9} {took}")
    return lines
