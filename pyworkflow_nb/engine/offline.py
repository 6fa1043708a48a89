"""Replaying a recorded history offline: the run's code against its events, nothing else.

:func:`replay_history` runs a workflow body on its deterministic loop exactly as recovery
does, with the same divergence rule (:mod:`.replay`), but against an engine that writes
nothing, executes no step and arms no timer: commands the code issues beyond the history are
noted, never carried out. The verdict says whether the code still fits the history.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from ..definitions import Workflow
from ..errors import NonDeterminismError
from ..history import vocabulary as ev
from ..serde import decode
from ..store import EventRow, RunRow
from .clock import VirtualClock
from .pending import Pending
from .run import Run


@dataclass(frozen=True)
class ReplayVerdict:
    """Whether a workflow's code still fits one recorded run."""

    run_id: str
    workflow: str
    ok: bool
    detail: str  # what happened, one line (or the divergence report)
    error: NonDeterminismError | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{self.run_id} ({self.workflow}): {'ok' if self.ok else 'DIVERGED'}: {self.detail}"


class _NothingWritten:
    """The writer of an offline replay: it accepts appends and keeps none."""

    sync = False
    idle = True

    def event(self, row: EventRow) -> None:
        pass

    def run_changed(self, row: RunRow) -> None:
        pass



class _OfflineEngine:
    """What a :class:`Run` needs of an engine, with nothing real behind it."""

    closing = False

    def __init__(self, now: float) -> None:
        self.loop = asyncio.new_event_loop()  # futures only: never run
        self.clock = VirtualClock(now)  # never moved: the replay happens at the history's end
        self.writer = _NothingWritten()
        self.status_listeners: list[Any] = []

    def record(self, event: EventRow) -> None:
        pass


class _ReplayRun(Run):
    """A run that stops where the history ends instead of going live."""

    live_commands: list[Pending]

    def _go_live(self) -> None:
        self.live_commands = [p for p in self.pending.values()
                              if not p.started and not p.future.done()]

    def _check_ended(self) -> None:
        pass  # the ending stays in ``_ending``; nothing is recorded

    def start_or_hold(self, p: Pending) -> None:
        pass  # a command past the history's end: listed by _go_live, never carried out


def replay_history(workflow: Workflow, events: list[EventRow]) -> ReplayVerdict:
    """Replay ``workflow``'s code against one run's ``events`` (rows in ``seq`` order)."""
    row = _row_from(events)
    engine = _OfflineEngine(events[-1][2] if events else 0.0)
    run = _ReplayRun.from_store(engine, row, events)  # type: ignore[arg-type]
    run.live_commands = []
    try:
        run.begin(workflow)
        return _verdict(run, workflow, events)
    finally:
        engine.closing = True  # the body is dropped where it stands, as at a shutdown
        run.stop()
        engine.loop.close()


def query_history(workflow: Workflow, events: list[EventRow], name: str,
                  args: tuple[Any, ...]) -> Any:
    """Answer query ``name`` from the state the code reaches replaying ``events``."""
    engine = _OfflineEngine(events[-1][2] if events else 0.0)
    run = _ReplayRun.from_store(engine, _row_from(events), events)  # type: ignore[arg-type]
    run.live_commands = []
    try:
        run.begin(workflow)
        if run.divergence is not None:
            raise run.divergence
        return run.answer_query(name, args)
    finally:
        engine.closing = True
        run.stop()
        engine.loop.close()


def _row_from(events: list[EventRow]) -> RunRow:
    started = next((e for e in events if e[3] == ev.WORKFLOW_STARTED), None)
    if started is None:
        raise ValueError("the history has no workflow.started event: it is not a whole run's "
                         "history (export it with handle.export_history(path))")
    data = ev.parse(started[6])
    row = RunRow(started[0], data.get("workflow", "?"), data.get("version"), ev.RUNNING,
                 json.dumps(data.get("input", {"args": [], "kwargs": {}})),
                 parent_run_id=data.get("parent_run_id"), schedule_id=data.get("schedule_id"),
                 created_at=started[2], started_at=started[2], updated_at=started[2])
    return row


def _verdict(run: _ReplayRun, workflow: Workflow, events: list[EventRow]) -> ReplayVerdict:
    def verdict(ok: bool, detail: str, error: NonDeterminismError | None = None) -> ReplayVerdict:
        return ReplayVerdict(run.run_id, workflow.name, ok, detail, error)

    if run.divergence is not None:
        return verdict(False, str(run.divergence), run.divergence)
    recorded = next((e for e in reversed(events) if e[3] in ev.FINAL_EVENTS.values()), None)
    ending = run._ending
    if recorded is None:
        if ending is None:
            waits = ", ".join(f"{p.kind} {p.id}" for p in run.live_commands) or "nothing new"
            return verdict(True, f"matches its history; live it would go on with: {waits}")
        if ending.status == ev.FAILED and run.failed_step is None:
            return verdict(False, f"the code raised {_error_text(ending.error)} where the "
                                  "recorded run went on")
        return verdict(True, f"matches its history and ends {ending.status}")
    recorded_status = next(s for s, t in ev.FINAL_EVENTS.items() if t == recorded[3])
    if ending is None:
        first = run.live_commands[0] if run.live_commands else None
        actual = f"{first.kind} {first.id}" if first else "it waits on nothing"
        error = NonDeterminismError(
            f"run {run.run_id!r} of workflow {workflow.name!r} no longer matches its recorded "
            f"history:\n  expected: the run to end {recorded_status}\n  actual:   {actual}\n"
            "The workflow's code changed since this run recorded its history.",
            run_id=run.run_id, expected=f"workflow {recorded_status}", actual=actual)
        return verdict(False, str(error), error)
    if ending.status != recorded_status:
        return verdict(False, f"the recorded run ended {recorded_status}, the code ends "
                              f"{ending.status}" + (f" ({_error_text(ending.error)})"
                                                    if ending.error else ""))
    if ending.status == ev.COMPLETED and not _same_result(recorded, ending.result_json):
        return verdict(False, "the code returns another result than the recorded run: "
                              f"{ending.result_json} instead of "
                              f"{json.dumps(ev.parse(recorded[6]).get('result'))}")
    return verdict(True, f"matches its history and ends {ending.status}")


def _same_result(recorded: EventRow, result_json: str | None) -> bool:
    stored = ev.recorded_value(ev.parse(recorded[6]))
    try:
        return bool(stored == decode(result_json))
    except Exception:
        return False


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "an error"
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"
