"""Child runs: a workflow started by a workflow, retried after a failure and bounded by a
timeout when ``pw.start_child`` asks for it.

Each attempt is a run of its own (``parent/wf#1``, then ``parent/wf#1@2``, ...). The parent's
history records each attempt's ``child.started`` and how it ended; the wait before a retry is
a durable timer, and the timeout's deadline is recorded with the first start, so both hold
across restarts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..definitions import ChildOptions, Workflow
from ..durations import format_duration
from ..history import vocabulary as ev
from ..serde import encode, encode_error
from .commands import Commands

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .pending import Pending


class ChildRuns(Commands):
    """Starting child runs and carrying each through its attempts."""

    def call_child(self, workflow: Workflow, args: tuple[Any, ...], kwargs: dict[str, Any],
                   options: ChildOptions | None = None) -> tuple[str, Awaitable[Any]]:
        options = options or ChildOptions()

        def start(p: Pending) -> None:
            attempt, retry_at = 1, None
            timeout_at = (None if options.timeout is None
                          else self.engine.clock.now() + options.timeout)
            if p.recorded is not None:
                attempt, retry_at = max(p.recorded.attempts, 1), p.recorded.retry_at
                timeout_at = p.recorded.until
            else:
                self.emit(ev.CHILD_STARTED, p.id, 1, ev.child_started(
                    child_run_id(self.run_id, p.id, 1), options.parent_close, timeout_at))
            self._spawn(p, self._run_child(p, workflow, args, kwargs, options,
                                           _ChildAttempt(attempt, retry_at, timeout_at)))

        p = self.issue("child", workflow.name, start)
        return child_run_id(self.run_id, p.id, 1), p.future

    async def _run_child(self, p: Pending, workflow: Workflow, args: tuple[Any, ...],
                         kwargs: dict[str, Any], options: ChildOptions,
                         at: _ChildAttempt) -> None:
        """Run the child, again after each failure its retry policy allows, until it ends
        or its ``timeout`` (over every attempt, retry waits included) passes."""
        self.waiting += 1
        self.refresh_status()
        deadline = None if at.timeout_at is None else self.engine.timers.wait(at.timeout_at)
        try:
            while True:
                run_id = child_run_id(self.run_id, p.id, at.attempt)
                try:
                    if at.retry_at is not None:
                        await self._child_retry_wait(at, deadline)
                        run_id = child_run_id(self.run_id, p.id, at.attempt)
                        self.emit(ev.CHILD_STARTED, p.id, at.attempt, ev.child_started(
                            run_id, options.parent_close, at.timeout_at))
                    self.children[run_id] = options.parent_close
                    result = await self._child_attempt(workflow, args, kwargs, run_id, deadline)
                    data = ev.result(encode(result, where=f"the result of child {p.id}"))
                except asyncio.CancelledError:
                    raise
                except _ChildTimedOut:
                    error = TimeoutError(f"child {p.id} of run {self.run_id!r} did not finish "
                                         f"within its timeout" + (
                                             f" of {format_duration(options.timeout)}"
                                             if options.timeout is not None else ""))
                    await self._end_late_child(run_id, error)
                    self._child_failed(p, at, error, None)
                    return
                except Exception as exc:
                    delay = options.retry_delay(at.attempt, exc)
                    retry_at = None if delay is None else self.engine.clock.now() + delay
                    if self._child_failed(p, at, exc.__cause__ or exc, retry_at):
                        continue
                    return
                ts = self.emit(ev.CHILD_COMPLETED, p.id, at.attempt, data)
                self.deliver(p, result, ts=ts)
                return
        finally:
            if deadline is not None:
                deadline.cancel()
            self.waiting -= 1
            self.refresh_status()

    async def _child_attempt(self, workflow: Workflow, args: tuple[Any, ...],
                             kwargs: dict[str, Any], run_id: str,
                             deadline: asyncio.Future[None] | None) -> Any:
        engine = self.engine
        await engine.start(workflow, args, kwargs, run_id=run_id, parent_run_id=self.run_id)
        self.awaited_children.add(run_id)  # settled while the child itself runs
        try:
            if deadline is None:
                return await engine.result(run_id)
            result = asyncio.ensure_future(engine.result(run_id))
            await asyncio.wait((result, deadline), return_when=asyncio.FIRST_COMPLETED)
            if result.done():
                return result.result()
            result.cancel()
            raise _ChildTimedOut
        finally:
            self.awaited_children.discard(run_id)

    async def _child_retry_wait(self, at: _ChildAttempt, deadline: asyncio.Future[None] | None
                                ) -> None:
        assert at.retry_at is not None
        self.waiting -= 1  # the run shows sleeping until the next child run
        try:
            if deadline is None:
                await self._retry_wait(at.retry_at)
            else:
                wait = asyncio.ensure_future(self._retry_wait(at.retry_at))
                await asyncio.wait((wait, deadline), return_when=asyncio.FIRST_COMPLETED)
                if deadline.done():  # also when both are due: no attempt starts at the deadline
                    wait.cancel()
                    raise _ChildTimedOut
        finally:
            self.waiting += 1
        await self.until_resumed()
        at.attempt += 1
        at.retry_at = None

    async def _end_late_child(self, run_id: str, error: TimeoutError) -> None:
        child = self.engine.runs.get(run_id)
        if child is not None and not child.terminating:
            await child.terminate(str(error))

    def _child_failed(self, p: Pending, at: _ChildAttempt, error: BaseException,
                      retry_at: float | None) -> bool:
        """Record a failed child attempt; True when another attempt follows at ``retry_at``."""
        failed_at = self.engine.clock.now()
        ts = self.emit(ev.CHILD_FAILED, p.id, at.attempt,
                       ev.child_failed(encode_error(error), retry_at), ts=failed_at)
        if retry_at is None:
            self.deliver(p, error=error, ts=ts)
            return False
        at.retry_at = retry_at
        return True


def child_run_id(parent_run_id: str, command_id: str, attempt: int) -> str:
    """The run id of attempt ``attempt`` of a child command: ``parent/wf#1``, ``parent/wf#1@2``."""
    base = f"{parent_run_id}/{command_id}"
    return base if attempt == 1 else f"{base}@{attempt}"


@dataclass
class _ChildAttempt:
    """Where a child command stands: its attempt, the time of the next one while it waits to
    retry, and its deadline."""

    attempt: int
    retry_at: float | None
    timeout_at: float | None


class _ChildTimedOut(Exception):
    """A child command's timeout passed before it ended."""
