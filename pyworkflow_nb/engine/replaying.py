"""How a recovered run walks its history: recorded outcomes handed to the body in order.

The divergence rule itself lives in :mod:`.replay`; this drives the body through it and then
takes the run live (starting the commands the history left unfinished).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import NonDeterminismError
from ..serde import decode_error
from .children import ChildRuns
from .history import Outcome
from .pending import Pending, settle


class Replaying(ChildRuns):
    """Replaying a run's history, then going live."""

    task: asyncio.Task[Any] | None
    pending: dict[tuple[str, str], Pending]
    divergence: NonDeterminismError | None
    cancel_requested: bool
    cancel_reason: str | None
    shield_depth: int
    cancel_held: bool
    advance: Callable[[], None]
    on_signal: Callable[[str, tuple[Any, ...]], None]
    on_update: Callable[[str, str, tuple[Any, ...]], None]

    def _replay(self) -> None:
        replay = self.replay
        while self.divergence is None:
            error = replay.check_idle()
            if error is not None or not replay.outcomes_left or self.task_done:
                break
            outcome = replay.next_outcome()
            error = replay.check_outcome(outcome)
            if error is not None:
                break
            self.loop.now = outcome.ts
            self._hand_over(outcome)
            self.advance()
        else:
            return
        error = error or (None if self.task_done else replay.check_end())
        if error is not None:
            self.diverge(error)
            return
        replay.clear_outcomes()
        replay.unmatched.clear()
        self._go_live()

    @property
    def task_done(self) -> bool:
        return self.task is not None and self.task.done()

    def _hand_over(self, outcome: Outcome) -> None:
        cmd = outcome.command
        if cmd is None:
            if outcome.signal is not None:
                self.on_signal(outcome.signal, outcome.payload)
            elif outcome.update is not None:
                self.on_update(*outcome.update, outcome.payload)
            elif outcome.event is None:
                self.cancel_requested = True
                self.cancel_reason = outcome.payload
                self.deliver_cancel()
            else:
                self.inbox.setdefault(outcome.event, deque()).append(outcome.payload)
            return
        p = self.pending.get((cmd.kind, cmd.id))
        if p is None:  # a recorded value, already returned; or a command the body gave up
            return
        if cmd.kind == "wait" and not cmd.timed_out:
            queue = self.inbox.get(cmd.data.get("event", ""))
            if queue:
                queue.popleft()
        if cmd.timed_out:
            settle(p.future, None, self.timeout_error(cmd.data.get("event", ""), cmd.id,
                                                       cmd.data.get("timeout")))
        elif cmd.failed:
            error = decode_error(cmd.error or {})
            if cmd.kind == "step":
                self.failed_step = (error, cmd.id)
            settle(p.future, None, error)
        else:
            settle(p.future, cmd.result, None)

    def _go_live(self) -> None:
        for p in list(self.pending.values()):
            if not p.started and not p.future.done():
                self.start_or_hold(p)
        for name in list(self.inbox):
            while self.inbox.get(name) and self.waiters.get(name):
                self.complete_wait(self.waiters[name][0], name, self.inbox[name].popleft())

    def diverge(self, error: NonDeterminismError) -> None:
        """Fail the run: its code no longer matches its history."""
        if self.divergence is None:
            self.divergence = error
            self.replay.clear_outcomes()
            self._cancel_body()
            self.loop.run_until_idle()

    def deliver_cancel(self) -> None:
        """Cancel the body now, or, inside a shielded block, when the block ends (live and in
        replay alike, so both take the same path)."""
        if self.shield_depth:
            self.cancel_held = True
        else:
            self._cancel_body()

    def enter_shield(self) -> None:
        """The body enters a block that a cancel does not interrupt."""
        self.shield_depth += 1

    def exit_shield(self) -> None:
        """The block ends: a cancel that came meanwhile lands at the body's next await."""
        self.shield_depth -= 1
        if not self.shield_depth and self.cancel_held:
            self.cancel_held = False
            self._cancel_body()

    def _cancel_body(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def receive(self, name: str, payload: Any, seq: int, ts: float) -> None:
        """An event was just recorded for this run: hand it over (in order, if not begun)."""
        if self.task is None:  # recovered, not begun: it comes after the loaded history
            self.replay.add_outcome(Outcome(seq, ts, event=name, payload=payload))
        else:
            self.on_event(name, payload)
