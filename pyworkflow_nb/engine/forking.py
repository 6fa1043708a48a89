"""Forking a run: a new run that takes another run's history up to one step and goes on from
there with the code defined now.

The new run's history starts with a copy of the source's events before that step's first event
(their times and data unchanged), then ``workflow.forked``. It is then exactly a run recovered
at that point: it replays the copied part with the current code (which must still fit it, as
for any replay) and runs the step, and everything after it, live. Pauses and cancel requests
of the source are not copied: the fork starts out running.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..history import vocabulary as ev
from ..store import EventRow, RunRow
from .children import child_run_id
from .engine import check_run_id
from .run import Run

if TYPE_CHECKING:
    from .engine import Engine

_NOT_COPIED = frozenset({ev.WORKFLOW_PAUSED, ev.WORKFLOW_RESUMED,
                         ev.WORKFLOW_CANCEL_REQUESTED}) | frozenset(ev.FINAL_EVENTS.values())


def step_ids(events: list[EventRow]) -> list[str]:
    """The ids of the steps a history has, in the order they first appear."""
    seen: dict[str, None] = {}
    for row in events:
        if row[3].startswith("step.") and row[4] is not None:
            seen.setdefault(row[4], None)
    return list(seen)


def _cut(events: list[EventRow], run_id: str, from_step: str) -> tuple[str, int]:
    """The step id ``from_step`` names (``fetch`` means ``fetch#1``) and where its events
    begin; a step the run does not have is refused with the list of those it has."""
    steps = step_ids(events)
    step = from_step if "#" in from_step else f"{from_step}#1"
    if step not in steps:
        have = ", ".join(steps) if steps else "none yet"
        raise InvalidInput(f"run {run_id!r} has no step {from_step!r} to fork from; its "
                           f"steps: {have}")
    first = next(i for i, row in enumerate(events)
                 if row[4] == step and row[3].startswith("step."))
    return step, first


def _children_left_running(events: list[EventRow]) -> set[int]:
    """Indexes of the last ``child.started`` of each child command the copy leaves unended:
    the fork runs those children anew, under its own run id."""
    last: dict[str, int] = {}
    for i, row in enumerate(events):
        if row[3] == ev.CHILD_STARTED and row[4] is not None:
            last[row[4]] = i
        elif row[3] == ev.CHILD_COMPLETED or (
                row[3] == ev.CHILD_FAILED and ev.is_final_failure(row[3], ev.parse(row[6]))):
            last.pop(row[4] or "", None)
    return set(last.values())


def _as_fork(fork_id: str, type_: str, step: str | None, attempt: int | None,
             data: str | None, started: str, rerun: bool) -> str | None:
    """A copied event's data as the fork's own: its start, and the run id of each child it
    runs anew (an ended child keeps the id of the run that gave its result)."""
    if type_ == ev.WORKFLOW_STARTED:
        return started
    if rerun and step is not None:
        fields = ev.parse(data)
        fields["run_id"] = child_run_id(fork_id, step, attempt or 1)
        return json.dumps(fields, separators=(",", ":"))
    return data


async def fork_run(engine: Engine, run_id: str, from_step: str,
                   new_run_id: str | None = None) -> RunRow:
    """Start a fork of ``run_id`` that executes anew from ``from_step``; returns its row."""
    if not isinstance(from_step, str) or not from_step.strip():
        raise InvalidInput(f"from_step must name a step of the run, such as 'fetch#2', got "
                           f"{from_step!r}")
    engine.require_writable("fork a run")
    source = engine.get_row(run_id)
    workflow = engine.defined_workflow(source, "fork")
    if new_run_id is not None:
        check_run_id(new_run_id)
    fork_id = new_run_id or uuid.uuid4().hex[:12]
    if fork_id in engine.runs or engine.store.get_run(fork_id) is not None:
        raise InvalidInput(f"run id {fork_id!r} is taken; fork with another run_id")
    events = engine.events(run_id)
    step, first = _cut(events, run_id, from_step)
    copied = [row for row in events[:first] if row[3] not in _NOT_COPIED]
    started = ev.workflow_started(workflow.name, workflow.version, None, None,
                                  source.input or ev.EMPTY)
    now = engine.clock.now()
    row = RunRow(fork_id, workflow.name, workflow.version, ev.RUNNING, source.input,
                 created_at=now, started_at=now, updated_at=now, forked_from=run_id)
    live = _children_left_running(copied)
    history = [(fork_id, seq, ts, type_, step_, attempt,
                _as_fork(fork_id, type_, step_, attempt, data, started, seq - 1 in live))
               for seq, (_r, _s, ts, type_, step_, attempt, data) in enumerate(copied, 1)]
    forked = (fork_id, len(history) + 1, now, ev.WORKFLOW_FORKED, None, None,
              ev.workflow_forked(run_id, step))
    await engine.adopt(Run.from_store(engine, row, [*history, forked]), workflow, [forked],
                       copied=history, new_row=True)
    return row
