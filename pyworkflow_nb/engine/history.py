"""A run's recorded history, indexed for replay.

Commands (steps, timers, waits, recorded values, child runs) are keyed by ``(kind, id)``
where the id is assigned at call time (``fetch#2``, ``sleep#1``, ``event:go#1``). Their order
of first appearance is the order the code issued them, used to report mismatches.
"""

from __future__ import annotations

from collections import deque
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
    matched: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.id}"


@dataclass
class History:
    """Commands, received events and run-level facts of a recorded run."""

    commands: dict[tuple[str, str], Command] = field(default_factory=dict)
    order: list[Command] = field(default_factory=list)
    inbox: dict[str, deque[Any]] = field(default_factory=dict)
    last_seq: int = 0
    cancel_requested: bool = False

    @classmethod
    def from_events(cls, rows: list[EventRow]) -> History:
        history = cls()
        consumed: dict[str, int] = {}
        for _run_id, seq, _ts, type_, step, attempt, data_text in rows:
            history.last_seq = seq
            if type_ == ev.WORKFLOW_CANCEL_REQUESTED:
                history.cancel_requested = True
                continue
            if type_ == ev.WORKFLOW_RETRIED:
                history.forget_failures()
                continue
            kind, _, what = type_.partition(".")
            if type_ == ev.EVENT_RECEIVED:
                data = ev.parse(data_text)
                history.inbox.setdefault(data["event"], deque()).append(
                    ev.recorded_value(data))
                continue
            if kind not in ev.COMMAND_FAMILIES or step is None:
                continue
            data = ev.parse(data_text)
            cmd = history.commands.get((kind, step))
            if cmd is None:
                cmd = Command(kind, step, len(history.order))
                history.commands[(kind, step)] = cmd
                history.order.append(cmd)
            _apply(cmd, what, attempt, data)
            if type_ == ev.WAIT_COMPLETED:
                consumed[data["event"]] = consumed.get(data["event"], 0) + 1
        for name, count in consumed.items():
            queue = history.inbox.get(name, deque())
            for _ in range(min(count, len(queue))):
                queue.popleft()
        return history

    def forget_failures(self) -> None:
        """Drop the commands that failed for good, so a retried run executes them afresh."""
        failed = [c for c in self.order if c.failed]
        for cmd in failed:
            del self.commands[(cmd.kind, cmd.id)]
            self.order.remove(cmd)


def _apply(cmd: Command, what: str, attempt: int | None, data: dict[str, Any]) -> None:
    if what == "started":
        cmd.attempts = max(cmd.attempts, attempt or 0)
        cmd.retry_at = None
        cmd.data = data
        if cmd.kind == "timer":
            cmd.until = data.get("until")
        elif cmd.kind == "wait":
            cmd.until = data.get("timeout_at")
    elif what in ("completed", "recorded", "fired"):
        cmd.done = True
        cmd.result = ev.recorded_value(data)
    elif what == "failed":
        cmd.error = data.get("error")
        if data.get("final"):
            cmd.done = cmd.failed = True
        else:
            cmd.retry_at = data.get("retry_at")
    elif what == "cancelled":
        cmd.cancelled = True
    elif what == "timed_out":
        cmd.done = cmd.timed_out = True
