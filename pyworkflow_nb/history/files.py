"""History files: one run's events as JSON, to replay elsewhere (``handle.export_history``).

The file is ``{"format": "pyworkflow_nb.history", "version": 1, "run_id", "workflow",
"events": [{"seq", "ts", "type", "step", "attempt", "data"}]}`` with each event's ``data``
as the JSON object the store holds, so the file reads like the ``events`` table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from . import vocabulary as ev
from .rows import EventRow

HISTORY_FORMAT = "pyworkflow_nb.history"
HISTORY_VERSION = 1
_EVENT_KEYS = ("seq", "ts", "type", "step", "attempt", "data")


def write_history_file(path: str | os.PathLike[str], events: list[EventRow]) -> Path:
    """Write one run's event rows as a history file; returns its path."""
    if not events:
        raise InvalidInput("there are no events to export")
    target = Path(path)
    body = {"format": HISTORY_FORMAT, "version": HISTORY_VERSION, "run_id": events[0][0],
            "workflow": workflow_of(events),
            "events": [dict(zip(_EVENT_KEYS, (seq, ts, type_, step, attempt, ev.parse(data)),
                                strict=True))
                       for _run_id, seq, ts, type_, step, attempt, data in events]}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return target


def read_history_file(path: str | os.PathLike[str]) -> list[EventRow]:
    """The event rows of a file written by :func:`write_history_file`."""
    source = Path(path)
    try:
        body = json.loads(source.read_text())
    except FileNotFoundError:
        raise InvalidInput(f"no history file {source}; write one with "
                           "handle.export_history(path)") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a readable history file: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != HISTORY_FORMAT:
        raise InvalidInput(f'{source} is not a pyworkflow_nb history file (no "format": '
                           f'"{HISTORY_FORMAT}"); write one with handle.export_history(path)')
    if body.get("version") != HISTORY_VERSION:
        raise InvalidInput(f"{source} is history format version {body.get('version')!r}; this "
                           f"pyworkflow_nb reads version {HISTORY_VERSION}")
    return rows_from_dicts(body.get("events"), str(source), run_id=str(body.get("run_id", "")))


def rows_from_dicts(events: Any, where: str, run_id: str = "") -> list[EventRow]:
    """Event rows from dicts shaped like ``handle.events()`` returns them."""
    if not isinstance(events, list) or not events:
        raise InvalidInput(f"{where} holds no events")
    rows: list[EventRow] = []
    for i, event in enumerate(events):
        if not isinstance(event, dict) or not all(k in event for k in _EVENT_KEYS):
            raise InvalidInput(f"event {i} of {where} lacks some of {', '.join(_EVENT_KEYS)}: "
                               f"{event!r:.200}")
        data = event["data"]
        rows.append((str(event.get("run_id", run_id)), int(event["seq"]), float(event["ts"]),
                     str(event["type"]), event["step"], event["attempt"],
                     None if data is None else json.dumps(data, ensure_ascii=False)))
    return rows


def workflow_of(events: list[EventRow]) -> str:
    """The workflow a run's history belongs to (from its ``workflow.started`` event)."""
    for _run_id, _seq, _ts, type_, _step, _attempt, data in events:
        if type_ == ev.WORKFLOW_STARTED:
            return str(ev.parse(data).get("workflow", "?"))
    raise InvalidInput("the history has no workflow.started event, so it is not the whole "
                       "history of a run; export one with handle.export_history(path)")
