"""Helpers shared by the schedule tests."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyworkflow_nb as pw

START = datetime(2025, 1, 1, tzinfo=timezone.utc)  # a Wednesday, 00:00 UTC


def runs_of(workflow: str) -> list[pw.RunHandle]:
    """Runs of a workflow in scheduled order."""
    return sorted(pw.list_runs(workflow=workflow, limit=None),
                  key=lambda h: (h.row().scheduled_at or 0, h.run_id))


def schedule_events(schedule_id: str) -> list[tuple[str, dict]]:
    rows = pw.sql("SELECT type, data FROM events WHERE run_id = ? ORDER BY seq",
                  [f"schedule:{schedule_id}"]).fetchall()
    return [(t, json.loads(d)) for t, d in rows]
