"""Retrying a failed run from its first failed step, keeping the steps that finished.

A ``workflow.retried`` event marks the point: the history fold drops every command that had
failed for good before it (see :func:`.history._forget_retried`), so the workflow runs it
again with a fresh retry budget while finished steps return their recorded results.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..history import vocabulary as ev
from ..store import RunRow
from .run import Run

if TYPE_CHECKING:
    from .engine import Engine


async def retry_run(engine: Engine, run_id: str) -> RunRow:
    """Resume the failed run ``run_id`` from its first failed step; returns its new row."""
    engine.require_writable("retry a run")
    row = engine.get_row(run_id)
    if row.status != ev.FAILED:
        raise InvalidInput(
            f"run {run_id!r} is {row.status}; only failed runs can be retried. Start a new run "
            "instead, or cancel this one first if it is stuck.")
    await engine.writer.flush()
    events = engine.store.load_events(run_id)
    now = engine.clock.now()
    retried = (run_id, events[-1][1] + 1 if events else 1, now, ev.WORKFLOW_RETRIED, None,
               None, ev.EMPTY)
    row = dataclasses.replace(row, status=ev.RUNNING, result=None, error=None,
                              finished_at=None, updated_at=now)
    run = Run.from_store(engine, row, [*events, retried])
    await engine.adopt(run, engine.registry.workflow(row.workflow), [retried], new_row=False)
    return row
