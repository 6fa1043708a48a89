"""The divergence rule: where replayed code must meet its recorded history, and where it left it.

Replay hands the history's outcomes to the code one at a time, in recorded order, running the
code until it is idle after each. Every command the code issues is matched against the history
by kind and id. The code has diverged when, at an idle point,

* it issued a command the history lacks while recorded outcomes are still to be handed over
  (live, that command would have been recorded before them), or
* the next outcome belongs to a command it has not issued, or
* every outcome is handed over and recorded commands are still unmatched.

A new command issued once every outcome is handed over is simply the run going on live.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NonDeterminismError
from ..locations import describe
from .history import Command, History, Outcome


@dataclass(frozen=True)
class Call:
    """A command as the code issued it."""

    kind: str
    id: str
    position: int  # 1-based, in the order the code issued commands
    site: tuple[str, int] | None  # file and line of the call, when known

    @property
    def where(self) -> str:
        """File or cell and line of the call (named only when an error shows it)."""
        return describe(*self.site) if self.site is not None else ""

    def describe(self) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"{self.kind} {self.id} at position {self.position}{at}"


class Replay:
    """Matches a run's commands against its history and decides when it diverged."""

    def __init__(self, history: History, run_id: str, workflow: str) -> None:
        self.history = history
        self.run_id = run_id
        self.workflow = workflow
        # still to hand over, last first: popping from a list's end is cheap, and a list
        # costs a fraction of a deque's memory in each of thousands of sleeping runs
        self._todo: list[Outcome] = history.outcomes[::-1]
        self.unmatched: dict[tuple[str, str], Command] = dict(history.commands)
        self.new: list[Call] = []
        self.calls: list[Call] = []  # every command issued while replaying, in order
        self.issued = 0

    @property
    def active(self) -> bool:
        """Whether the code still walks its recorded path."""
        return bool(self._todo or self.unmatched)

    @property
    def outcomes_left(self) -> bool:
        return bool(self._todo)

    def next_outcome(self) -> Outcome:
        """The next recorded outcome, taken off the queue."""
        return self._todo.pop()

    def add_outcome(self, outcome: Outcome) -> None:
        """Queue an outcome recorded after the history was loaded (the run has not begun)."""
        self._todo.insert(0, outcome)

    def clear_outcomes(self) -> None:
        self._todo = []

    def match(self, kind: str, command_id: str,
              site: tuple[str, int] | None = None) -> Command | None:
        """The recorded command for this call; ``None`` when the history lacks it."""
        self.issued += 1
        if not self.active:
            return None
        call = Call(kind, command_id, self.issued, site)
        self.calls.append(call)
        cmd = self.unmatched.pop((kind, command_id), None)
        if cmd is None:
            self.new.append(call)
        return cmd

    def check_idle(self) -> NonDeterminismError | None:
        """At an idle point: the divergence, if the code issued a command it should not have."""
        if self.new and self._todo:
            return self.diverged(self.new[0])
        return None

    def check_outcome(self, outcome: Outcome) -> NonDeterminismError | None:
        """Before handing over ``outcome``: the divergence, if its command was never issued."""
        cmd = outcome.command
        if cmd is not None and (cmd.kind, cmd.id) in self.unmatched:
            return self._error(cmd, self._issued_at(cmd.position + 1))
        return None

    def _issued_at(self, position: int) -> Call | str:
        """What the code issued at ``position`` (1-based), or what it does instead."""
        if len(self.calls) >= position:
            return self.calls[position - 1]
        return (f"no command at position {position}: the workflow issued "
                f"{len(self.calls)} and now waits")

    def check_end(self, ending: str = "") -> NonDeterminismError | None:
        """Once every outcome is handed over: the divergence, if recorded commands are left."""
        if self.unmatched:
            return self.diverged(ending or (self.new[0] if self.new
                                            else "the workflow waits on no further command"))
        return None

    def diverged(self, actual: Call | str) -> NonDeterminismError:
        """The error for ``actual`` standing where the history expected something else."""
        expected: Command | None
        if self.unmatched:
            expected = min(self.unmatched.values(), key=lambda c: c.position)
        else:
            expected = next((o.command for o in reversed(self._todo)
                             if o.command is not None), None)
        return self._error(expected, actual)

    def _error(self, expected: Command | None, actual: Call | str) -> NonDeterminismError:
        wanted = (f"{expected.describe()} at position {expected.position + 1}"
                  if expected is not None else "the recorded run to go on as before")
        message = (
            f"run {self.run_id!r} of workflow {self.workflow!r} no longer matches its "
            f"recorded history:\n"
            f"  expected: {wanted}\n"
            f"  actual:   {actual if isinstance(actual, str) else actual.describe()}\n"
            "The workflow's code changed since this run recorded its history. To keep this run "
            "going with the new code, put the change behind `if pw.patched(\"my-change\"):` "
            "(the new code) with the code this run recorded in its `else:` branch; or revert "
            "the change and call handle.retry() (or %wf retry RUN) to resume this run; or "
            "start a new run (a new run id) with the new code.")
        return NonDeterminismError(
            message, run_id=self.run_id, expected=expected.describe() if expected else None,
            actual=actual if isinstance(actual, str) else f"{actual.kind} {actual.id}",
            position=None if isinstance(actual, str) else actual.position)
