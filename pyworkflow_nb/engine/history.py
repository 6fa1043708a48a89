"""A run's recorded history, folded for replay.

Commands (steps, timers, waits, recorded values, child runs) are keyed by ``(kind, id)``
where the id is assigned at call time (``fetch#2``, ``sleep#1``, ``event:go#1``); ``order``
is the order the code issued them. ``outcomes`` is what the workflow observed, in the order it
observed it: each command's final outcome, every event received and a cancel request. Replay
hands these to the code one at a time, in that order, so it takes the same path again.
``markers`` are the code changes the run took (``pw.patched``): not commands, just answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..history import vocabulary as ev
from ..store import EventRow


@dataclass
class Command:
    """What the history says about one command."""

    kind: str
    id: str
    position: int
    attempts: int = 0
    done: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    failed: bool = False
    cancelled: bool = False
    retry_at: float | None = None
    until: float | None = None
    timed_out: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind} {self.id}"


@dataclass
class Outcome:
    """One thing the workflow observed: a command's end, an event, or a cancel request."""

    seq: int
    ts: float
    command: Command | None = None
    event: str | None = None  # the name of an event received
    signal: str | None = None  # the name of a signal received (its args are the payload)
    update: tuple[str, str] | None = None  # (id, name) of an update accepted (args: payload)
    payload: Any = None


@dataclass
class History:
    """Commands and outcomes of a recorded run."""

    commands: dict[tuple[str, str], Command] = field(default_factory=dict)
    order: list[Command] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    markers: dict[str, int] = field(default_factory=dict)  # change id -> version taken
    # update id -> (result, error) of each update whose handler finished
    updates_done: dict[str, tuple[Any, dict[str, Any] | None]] = field(default_factory=dict)
    paused: bool = False  # paused and not resumed since
    started_at: float | None = None
    last_seq: int = 0

    @classmethod
    def from_events(cls, rows: list[EventRow]) -> History:
        history = cls()
        kept = _forget_retried(rows)
        for _run_id, seq, ts, type_, step, attempt, data_text in kept:
            if type_ in _MESSAGES and history._fold_message(seq, ts, type_, step, data_text):
                continue
            kind, _, what = type_.partition(".")
            if kind not in ev.COMMAND_FAMILIES or step is None:
                continue
            # a step's recorded arguments play no part in replay: not decoded
            data = {} if type_ == ev.STEP_STARTED else ev.parse(data_text)
            cmd = history.commands.get((kind, step))
            if cmd is None:
                cmd = Command(kind, step, len(history.order))
                history.commands[(kind, step)] = cmd
                history.order.append(cmd)
            if _apply(cmd, what, attempt, data):
                history.outcomes.append(Outcome(seq, ts, cmd))
        if kept:  # (the last row is always kept)
            history.last_seq = max(row[1] for row in kept)
        return history

    def _fold_message(self, seq: int, ts: float, type_: str, step: str | None,
                      data_text: str | None) -> bool:
        """Fold an event that belongs to no command; False for a command's event."""
        if type_ == ev.WORKFLOW_STARTED:
            self.started_at = ts
        elif type_ == ev.WORKFLOW_CANCEL_REQUESTED:  # the payload is the reason given
            self.outcomes.append(Outcome(seq, ts, payload=ev.parse(data_text).get("reason")))
        elif type_ in (ev.WORKFLOW_PAUSED, ev.WORKFLOW_RESUMED):
            self.paused = type_ == ev.WORKFLOW_PAUSED
        elif type_ == ev.PATCH_RECORDED and step is not None:
            self.markers[step] = ev.parse(data_text).get("version", 1)
        elif type_ == ev.SIGNAL_RECEIVED:
            data = ev.parse(data_text)
            self.outcomes.append(Outcome(seq, ts, signal=data["signal"],
                                         payload=tuple(_args(data))))
        elif type_ == ev.UPDATE_ACCEPTED and step is not None:
            data = ev.parse(data_text)
            self.outcomes.append(Outcome(seq, ts, update=(step, data["update"]),
                                         payload=tuple(_args(data))))
        elif type_ in (ev.UPDATE_COMPLETED, ev.UPDATE_FAILED) and step is not None:
            data = ev.parse(data_text)
            self.updates_done[step] = (ev.recorded_value(data), data.get("error"))
        elif type_ == ev.EVENT_RECEIVED:
            data = ev.parse(data_text)
            self.outcomes.append(Outcome(seq, ts, event=data["event"],
                                         payload=ev.recorded_value(data)))
        else:
            return type_ == ev.UPDATE_REJECTED  # rejected updates left no mark on the run
        return True


# the event types _fold_message takes: checked first, as most events are a command's
_MESSAGES = frozenset({
    ev.WORKFLOW_STARTED, ev.WORKFLOW_CANCEL_REQUESTED, ev.WORKFLOW_PAUSED, ev.WORKFLOW_RESUMED,
    ev.PATCH_RECORDED, ev.SIGNAL_RECEIVED, ev.UPDATE_ACCEPTED, ev.UPDATE_COMPLETED,
    ev.UPDATE_FAILED, ev.EVENT_RECEIVED, ev.UPDATE_REJECTED})


def _args(data: dict[str, Any]) -> list[Any]:
    """The arguments of a signal or update, decoded."""
    return list(ev.recorded_value({"value": data["args"]}))


def _forget_retried(rows: list[EventRow]) -> list[EventRow]:
    """The rows a retried run replays: up to its first failure for good, then what followed.

    At each ``workflow.retried``, the rows from the first final failure before it are dropped
    (events received in between are kept), along with every row of the failed command, so the
    workflow runs it again with a fresh retry budget.
    """
    kept: list[EventRow] = []
    since = 0  # index in kept after the previous retry
    for row in rows:
        if row[3] == ev.WORKFLOW_RETRIED:
            cut = next((i for i in range(since, len(kept)) if _fails_for_good(kept[i])), None)
            if cut is not None:
                failed = (kept[cut][3].partition(".")[0], kept[cut][4])
                kept = [r for r in kept[:cut] if (r[3].partition(".")[0], r[4]) != failed] + [
                    r for r in kept[cut:] if r[3] == ev.EVENT_RECEIVED]
            since = len(kept)
        kept.append(row)
    return kept


def _fails_for_good(row: EventRow) -> bool:
    return ev.is_final_failure(row[3], ev.parse(row[6]) if row[3] in (
        ev.STEP_FAILED, ev.CHILD_FAILED) else {})


def _apply(cmd: Command, what: str, attempt: int | None, data: dict[str, Any]) -> bool:
    """Fold one event into its command; True when it is the command's final outcome."""
    if what == "started":
        cmd.attempts = max(cmd.attempts, attempt or 0)
        cmd.retry_at = None
        cmd.data = data
        if cmd.kind == "timer":
            cmd.until = data.get("until")
        elif cmd.kind in ("wait", "child"):
            cmd.until = data.get("timeout_at")
        return False
    if what in ("completed", "recorded", "fired"):
        cmd.done = True
        cmd.result = ev.recorded_value(data)
        return True
    if what == "failed":
        cmd.error = data.get("error")
        if data.get("final"):
            cmd.done = cmd.failed = True
            return True
        cmd.retry_at = data.get("retry_at")
        return False
    if what == "cancelled":
        cmd.cancelled = True
    elif what == "timed_out":
        cmd.done = cmd.timed_out = True
        return True
    return False

