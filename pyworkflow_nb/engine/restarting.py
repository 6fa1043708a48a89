"""Restarting a run: the same run id starts over from scratch with the same input.

Its earlier attempt is kept, renamed: the run and its child runs move to ``RUN~1`` (then
``RUN~2``, ...) with ``runs.attempt_of`` naming the run, so SQL still reads every attempt and
the new one's views hold only its own steps. A run in flight is terminated first.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..history import vocabulary as ev
from ..store import EventRow, RunRow
from .run import Run

if TYPE_CHECKING:
    from .engine import Engine


async def restart_run(engine: Engine, run_id: str, reason: str | None = None) -> RunRow:
    """Start ``run_id`` over with the code defined now; returns its new row."""
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput(f"restart(reason=...) must be a string or None, got {reason!r}")
    engine.require_writable("restart a run")
    row = engine.get_row(run_id)
    workflow = engine.defined_workflow(row, "restart")
    if row.attempt_of is not None:
        raise InvalidInput(f"run {run_id!r} is an earlier attempt of run {row.attempt_of!r}; "
                           f"restart {row.attempt_of!r} instead")
    left = sorted(r for r in engine.runs
                  if r.startswith(f"{run_id}/") and _outlives(engine, run_id, r))
    if left:  # checked before the terminate: a refused restart ends nothing
        raise InvalidInput(f"cannot restart run {run_id!r}: its child run(s) "
                           f"{', '.join(left)} would go on running (parent_close='abandon'); "
                           "terminate them first")
    if engine.live_run(run_id) is not None:  # (a dormant run is rebuilt to be ended)
        await engine.terminate(run_id, f"restarted{f': {reason}' if reason else ''}")
    await engine.writer.flush()
    attempt = 1
    while engine.store.get_run(f"{run_id}~{attempt}") is not None:
        attempt += 1
    previous = f"{run_id}~{attempt}"
    engine.store.archive_attempt(run_id, previous)
    engine.forget(run_id)
    now = engine.clock.now()
    row = dataclasses.replace(row, version=workflow.version, status=ev.RUNNING, result=None,
                              error=None, started_at=now, finished_at=None, updated_at=now)
    events: list[EventRow] = [
        (run_id, 1, now, ev.WORKFLOW_RESTARTED, None, None,
         ev.workflow_restarted(previous, attempt + 1, reason)),
        (run_id, 2, now, ev.WORKFLOW_STARTED, None, None, ev.workflow_started(
            workflow.name, workflow.version, row.parent_run_id, row.schedule_id,
            row.input or ev.EMPTY))]
    await engine.adopt(Run.from_store(engine, row, events), workflow, events, new_row=True)
    return row


def _outlives(engine: Engine, run_id: str, child_id: str) -> bool:
    """Whether the child run ``child_id`` (under ``run_id``) would go on once ``run_id`` ends:
    some link up to it is abandoned, or a parent on the way already ended."""
    node = engine.runs[child_id]
    while True:
        parent_id = node.row.parent_run_id
        parent = engine.runs.get(parent_id) if parent_id else None
        if parent is None or parent.children.get(node.run_id) == "abandon":
            return True
        if parent_id == run_id:
            return False
        node = parent
