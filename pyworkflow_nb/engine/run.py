"""One run of a workflow: it executes the code live and replays it against its history.

Every primitive the workflow calls becomes a *command* with an id assigned at call time
(``fetch#2``). Live, the command's events are appended to the writer; in replay, a command
the history already holds returns its recorded outcome. When the code issues a command the
history does not know while recorded commands are still unmatched, the run waits until the
other branches have caught up; if they never do, the code has diverged from the history and
the run fails with :class:`~pyworkflow_nb.NonDeterminismError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..context import RunContext, RunInfo, current_run, current_step
from ..definitions import Step, Workflow
from ..durations import format_duration, parse_duration
from ..errors import (
    EventTimeout,
    NonDeterminismError,
    RetryableError,
    SerializationError,
)
from ..history import vocabulary as ev
from ..serde import decode_error, encode, encode_error
from ..store import RunRow
from .history import Command, History

if TYPE_CHECKING:
    from .engine import Engine

_QUIET_ITERATIONS = 10
_log = logging.getLogger("pyworkflow_nb.workflow")


class _ReplayLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Drops records while the run replays, so replayed code does not log twice."""

    def __init__(self, run: Run) -> None:
        super().__init__(_log, {"run_id": run.row.run_id})
        self._run = run

    def isEnabledFor(self, level: int) -> bool:
        return not self._run.replaying and super().isEnabledFor(level)


class Run(RunContext):
    """The live state of one run, and the implementation of every workflow primitive."""

    def __init__(self, engine: Engine, row: RunRow, history: History | None = None,
                 args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.row = row
        self.args = args
        self.kwargs = kwargs or {}
        self.workflow: Workflow | None = None
        self.history = history or History()
        self.seq = self.history.last_seq
        self.task: asyncio.Task[Any] | None = None
        self.done: asyncio.Future[Any] = engine.loop.create_future()
        self.replayed: asyncio.Future[None] = engine.loop.create_future()
        self.unmatched = len(self.history.order)
        self.matched = 0
        self.position = 0
        self.cancel_requested = self.history.cancel_requested
        self.counters: dict[tuple[str, str], int] = {}
        self.inbox: dict[str, deque[Any]] = self.history.inbox
        self.waiters: dict[str, deque[asyncio.Future[Any]]] = {}
        self.running_steps = 0
        self.sleeping = 0
        self.waiting = 0
        self.failed_step: tuple[BaseException, str] | None = None
        self._logger: _ReplayLogger | None = None
        self.recovered = False
        self.ended_replaying = False  # finished before its history was replayed
        if not self.unmatched:
            self.replayed.set_result(None)

    # -- identity ------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.row.run_id

    @property
    def replaying(self) -> bool:
        return self.unmatched > 0

    def info(self) -> RunInfo:
        return RunInfo(self.row.run_id, self.row.workflow, self.row.version, 1, self.replaying,
                       self.row.parent_run_id, self.row.schedule_id)

    def logger(self) -> logging.Logger:
        if self._logger is None:
            self._logger = _ReplayLogger(self)
        return self._logger  # type: ignore[return-value]

    def clock_now(self) -> float:
        return self.engine.clock.now()

    # -- recording -----------------------------------------------------------------------------

    def emit(self, type_: str, step: str | None = None, attempt: int | None = None,
             data: str | None = None, ts: float | None = None) -> None:
        """Append one event of this run to the writer (``ts`` defaults to now)."""
        self.seq += 1
        when = self.engine.clock.now() if ts is None else ts
        event = (self.row.run_id, self.seq, when, type_, step, attempt, data)
        self.engine.writer.event(event)
        if self.engine.listeners:
            self.engine.notify(event)

    def durable(self) -> Awaitable[None]:
        """Wait for the commit of everything emitted so far (sync durability only)."""
        writer = self.engine.writer
        return writer.durable() if writer.sync else _DONE

    def set_status(self, status: str) -> None:
        row = self.row
        if row.status != status and not row.finished:
            row.status = status
            row.updated_at = self.engine.clock.now()
            self.engine.writer.run_changed(row)

    def refresh_status(self) -> None:
        if self.running_steps:
            self.set_status(ev.RUNNING)
        elif self.waiting:
            self.set_status(ev.WAITING)
        elif self.sleeping:
            self.set_status(ev.SLEEPING)
        else:
            self.set_status(ev.RUNNING)

    # -- matching against history --------------------------------------------------------------

    def next_id(self, kind: str, name: str) -> str:
        key = (kind, name)
        n = self.counters[key] = self.counters.get(key, 0) + 1
        return f"{name}#{n}"

    def match(self, kind: str, command_id: str) -> Command | None:
        """The recorded command for this call, marking it matched; ``None`` if new."""
        self.position += 1
        if not self.unmatched:
            return None
        cmd = self.history.commands.get((kind, command_id))
        if cmd is None or cmd.matched:
            return None
        cmd.matched = True
        self.matched += 1
        self.unmatched -= 1
        if not self.unmatched and not self.replayed.done():
            self.replayed.set_result(None)
        return cmd

    async def admit_new(self, kind: str, command_id: str, position: int, where: str) -> None:
        """Let a command unknown to the history run once replay has caught up."""
        quiet, seen = 0, self.matched
        while self.unmatched:
            await asyncio.sleep(0)
            if self.matched != seen:
                quiet, seen = 0, self.matched
                continue
            quiet += 1
            if quiet >= _QUIET_ITERATIONS:
                raise self.divergence(f"{kind} {command_id}", position, where)

    def divergence(self, actual: str, position: int | None, where: str = "") -> NonDeterminismError:
        expected = next(c for c in self.history.order if not c.matched)
        at = f" ({where})" if where else ""
        actual_text = f"{actual} at position {position}{at}" if position else actual
        message = (
            f"run {self.row.run_id!r} of workflow {self.row.workflow!r} no longer matches its "
            f"recorded history:\n"
            f"  expected: {expected.describe()} at position {expected.position + 1}\n"
            f"  actual:   {actual_text}\n"
            "The workflow's code changed since this run recorded its history. Revert the change "
            "to resume this run, or start a new run (a new run id) with the new code."
        )
        return NonDeterminismError(message, run_id=self.row.run_id,
                                   expected=expected.describe(), actual=actual,
                                   position=position)

    def _call_site(self) -> str:
        frame = sys._getframe(3)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
                "pyworkflow_nb"):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return ""
        return f"{frame.f_code.co_filename}, line {frame.f_lineno}"

    # -- steps ---------------------------------------------------------------------------------

    def call_step(self, step: Step, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Awaitable[Any]:
        step_id = self.next_id("step", step.name)
        cmd = self.match("step", step_id)
        if cmd is not None:
            if cmd.done and not cmd.failed:
                return _resolved(cmd.result)
            return self._run_step(step, step_id, args, kwargs, cmd, None)
        if self.unmatched:
            return self._run_step(step, step_id, args, kwargs, None,
                                  (self.position, self._call_site()))
        self.emit(ev.STEP_STARTED, step_id, 1, ev.step_started(args, kwargs))
        return self._run_step(step, step_id, args, kwargs, None, None)

    async def _run_step(self, step: Step, step_id: str, args: tuple[Any, ...],
                        kwargs: dict[str, Any], cmd: Command | None,
                        pending: tuple[int, str] | None) -> Any:
        attempt = 1
        if pending is not None:
            await self.admit_new("step", step_id, *pending)
            self.emit(ev.STEP_STARTED, step_id, 1, ev.step_started(args, kwargs))
        elif cmd is not None:
            if cmd.failed:
                raise decode_error(cmd.error or {})
            attempt = max(cmd.attempts, 1)
            if cmd.retry_at is not None:
                await self._retry_wait(cmd.retry_at)
                attempt += 1
            self.emit(ev.STEP_STARTED, step_id, attempt, ev.step_started(args, kwargs))
        policy = step.policy
        while True:
            self.running_steps += 1
            if self.running_steps == 1:
                self.refresh_status()
            try:
                result = await self._attempt(step, step_id, attempt, args, kwargs)
                data = ev.result(encode(result, where=f"the result of step {step_id}"))
            except asyncio.CancelledError:
                self.emit(ev.STEP_CANCELLED, step_id, attempt, ev.EMPTY)
                raise
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                retry = (attempt <= policy.max_retries and policy.retryable(exc)
                         and not isinstance(exc, SerializationError))
                failed_at = self.engine.clock.now()
                retry_at = None
                if retry:
                    delay = policy.delay(attempt)
                    if isinstance(exc, RetryableError) and exc.retry_after is not None:
                        delay = parse_duration(exc.retry_after, what="retry_after")
                    retry_at = failed_at + delay
                self.emit(ev.STEP_FAILED, step_id, attempt,
                          ev.step_failed(encode_error(exc), retry_at, final=not retry),
                          ts=failed_at)
                await self.durable()
                if not retry:
                    self.failed_step = (exc, step_id)
                    raise
                self.running_steps -= 1  # waiting to retry is sleeping, not running
                try:
                    await self._retry_wait(retry_at)  # type: ignore[arg-type]
                finally:
                    self.running_steps += 1
                attempt += 1
                self.emit(ev.STEP_STARTED, step_id, attempt, ev.step_started(args, kwargs))
                continue
            finally:
                self.running_steps -= 1
                if not self.running_steps:
                    self.refresh_status()
            self.emit(ev.STEP_COMPLETED, step_id, attempt, data)
            await self.durable()
            return result

    async def _attempt(self, step: Step, step_id: str, attempt: int, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        token = current_step.set(step_id)
        try:
            if step.is_async:
                work: Awaitable[Any] = step.fn(*args, **kwargs)
            else:
                ctx = contextvars.copy_context()
                work = self.engine.loop.run_in_executor(
                    self.engine.step_executor, lambda: ctx.run(step.fn, *args, **kwargs))
            if step.timeout is None:
                return await work
            try:
                return await asyncio.wait_for(work, step.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"step {step_id} attempt {attempt} timed out after "
                    f"{format_duration(step.timeout)}") from None
        finally:
            current_step.reset(token)

    async def _retry_wait(self, retry_at: float) -> None:
        self.sleeping += 1
        self.refresh_status()
        try:
            await self.engine.timers.wait(retry_at)
        finally:
            self.sleeping -= 1
            self.refresh_status()

    # -- timers --------------------------------------------------------------------------------

    async def sleep_until(self, until: float) -> None:
        timer_id = self.next_id("timer", "sleep")
        cmd = self.match("timer", timer_id)
        if cmd is not None:
            if cmd.done:
                return
            until = cmd.until if cmd.until is not None else until
        else:
            if self.unmatched:
                await self.admit_new("timer", timer_id, self.position, self._call_site())
            self.emit(ev.TIMER_STARTED, timer_id, None, ev.timer_started(until))
            await self.durable()
        self.sleeping += 1
        self.refresh_status()
        try:
            await self.engine.timers.wait(until)
        finally:
            self.sleeping -= 1
            self.refresh_status()
        self.emit(ev.TIMER_FIRED, timer_id, None, ev.EMPTY)

    # -- external events -----------------------------------------------------------------------

    async def wait_for_event(self, name: str, timeout: float | None) -> Any:
        wait_id = self.next_id("wait", f"event:{name}")
        cmd = self.match("wait", wait_id)
        if cmd is not None:
            if cmd.timed_out:
                raise self._timeout_error(name, wait_id)
            if cmd.done:
                return cmd.result
            timeout_at = cmd.until
        else:
            if self.unmatched:
                await self.admit_new("wait", wait_id, self.position, self._call_site())
            timeout_at = None if timeout is None else self.engine.clock.now() + timeout
            self.emit(ev.WAIT_STARTED, wait_id, None, ev.wait_started(name, timeout_at))
        queue = self.inbox.get(name)
        if queue:
            payload = queue.popleft()
        else:
            payload = await self._wait_delivery(name, wait_id, timeout_at)
        self.emit(ev.WAIT_COMPLETED, wait_id, None,
                  ev.wait_completed(name, encode(payload, where=f"event {name!r}")))
        return payload

    async def _wait_delivery(self, name: str, wait_id: str, timeout_at: float | None) -> Any:
        fut: asyncio.Future[Any] = self.engine.loop.create_future()
        self.waiters.setdefault(name, deque()).append(fut)
        self.waiting += 1
        self.refresh_status()
        await self.durable()
        try:
            if timeout_at is None:
                return await fut
            timer = self.engine.timers.wait(timeout_at)
            await asyncio.wait((fut, timer), return_when=asyncio.FIRST_COMPLETED)
            if fut.done():
                timer.cancel()
                return fut.result()
            fut.cancel()
            self.emit(ev.WAIT_TIMED_OUT, wait_id, None, ev.wait_timed_out(name))
            await self.durable()
            raise self._timeout_error(name, wait_id)
        finally:
            self.waiting -= 1
            self.refresh_status()
            queue = self.waiters.get(name)
            if queue and fut in queue:
                queue.remove(fut)

    def _timeout_error(self, name: str, wait_id: str) -> EventTimeout:
        return EventTimeout(f"run {self.row.run_id!r}: no {name!r} event arrived before the "
                            f"timeout of {wait_id}", event=name)

    def deliver(self, name: str, payload: Any) -> None:
        """Hand an event that was just recorded to the first waiter, or queue it."""
        queue = self.waiters.get(name)
        while queue:
            fut = queue.popleft()
            if not fut.done():
                fut.set_result(payload)
                return
        self.inbox.setdefault(name, deque()).append(payload)

    # -- recorded values -----------------------------------------------------------------------

    def record_value(self, kind: str, make: Callable[[], Any]) -> Any:
        value_id = self.next_id("value", kind)
        cmd = self.match("value", value_id)
        if cmd is not None and cmd.done:
            return cmd.result
        if self.unmatched and cmd is None:
            raise self.divergence(f"value {value_id}", self.position, self._call_site())
        value = make()
        self.emit(ev.VALUE_RECORDED, value_id, None,
                  ev.value_recorded(encode(value, where=f"recorded value {value_id}")))
        return value

    async def side_effect(self, fn: Callable[[], Any]) -> Any:
        value_id = self.next_id("value", "side_effect")
        cmd = self.match("value", value_id)
        if cmd is not None and cmd.done:
            return cmd.result
        if self.unmatched and cmd is None:
            await self.admit_new("value", value_id, self.position, self._call_site())
        value = fn()
        if asyncio.iscoroutine(value):
            value = await value
        self.emit(ev.VALUE_RECORDED, value_id, None,
                  ev.value_recorded(encode(value, where=f"side effect {value_id}")))
        await self.durable()
        return value

    # -- child runs ----------------------------------------------------------------------------

    def call_child(self, workflow: Workflow, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Awaitable[Any]:
        child_id = self.next_id("child", workflow.name)
        cmd = self.match("child", child_id)
        if cmd is not None and cmd.done:
            if cmd.failed:
                return _raised(decode_error(cmd.error or {}))
            return _resolved(cmd.result)
        return self._run_child(workflow, child_id, args, kwargs, cmd is None and self.unmatched,
                               self.position)

    async def _run_child(self, workflow: Workflow, child_id: str, args: tuple[Any, ...],
                         kwargs: dict[str, Any], pending: bool, position: int) -> Any:
        if pending:
            await self.admit_new("child", child_id, position, "")
        child_run_id = f"{self.row.run_id}/{child_id}"
        self.emit(ev.CHILD_STARTED, child_id, None, ev.child_started(child_run_id))
        child = await self.engine.start(workflow, args, kwargs, run_id=child_run_id,
                                        parent_run_id=self.row.run_id)
        self.waiting += 1
        self.refresh_status()
        try:
            result = await self.engine.result(child.run_id)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            cause = exc.__cause__ or exc
            self.emit(ev.CHILD_FAILED, child_id, None, ev.child_failed(encode_error(cause)))
            await self.durable()
            raise cause from None
        finally:
            self.waiting -= 1
            self.refresh_status()
        self.emit(ev.CHILD_COMPLETED, child_id, None,
                  ev.result(encode(result, where=f"the result of child {child_id}")))
        await self.durable()
        return result

    # -- driving the workflow ------------------------------------------------------------------

    def begin(self, workflow: Workflow) -> None:
        """Start (or replay) the workflow body as a task on the engine's loop."""
        self.workflow = workflow
        if self.row.version != workflow.version and not self.history.order:
            self.row.version = workflow.version
        ctx = contextvars.copy_context()
        ctx.run(current_run.set, self)
        ctx.run(current_step.set, None)
        self.task = ctx.run(self.engine.loop.create_task, self._drive(workflow))
        if self.cancel_requested:
            self.task.cancel()

    async def _drive(self, workflow: Workflow) -> None:
        engine = self.engine
        try:
            body = workflow.fn(*self.args, **self.kwargs)
            if workflow.timeout is not None:
                result = await asyncio.wait_for(body, workflow.timeout)
            else:
                result = await body
            if self.unmatched:
                raise self.divergence("the workflow returned", None)
            result_json = encode(result, where=f"the result of run {self.run_id}")
        except asyncio.CancelledError:
            if not self.cancel_requested or engine.closing:
                raise
            await self._finish(ev.CANCELLED, ev.EMPTY, None)
            return
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            step = self.failed_step[1] if self.failed_step and self.failed_step[0] is exc \
                else None
            error = encode_error(exc)
            if step:
                error["step"] = step
            await self._finish(ev.FAILED, ev.workflow_failed(error),
                               exc, error_json=json.dumps(
                                   {"type": error["type"], "message": error["message"],
                                    "step": step}))
            return
        self.row.result = result_json
        await self._finish(ev.COMPLETED, ev.result(result_json), None)

    async def _finish(self, status: str, data: str, exc: BaseException | None,
                      error_json: str | None = None) -> None:
        self.emit(ev.FINAL_EVENTS[status], None, None, data)
        row = self.row
        now = self.engine.clock.now()
        row.status = status
        row.error = error_json
        row.finished_at = row.updated_at = now
        self.engine.writer.run_changed(row)
        if not self.replayed.done():
            self.ended_replaying = True
            self.replayed.set_result(None)
        try:
            await self.durable()
        finally:
            self.engine.finished(self, exc)


async def _resolved(value: Any) -> Any:
    return value


async def _raised(exc: BaseException) -> Any:
    raise exc


class _Done:
    """An awaitable that is already complete (relaxed durability)."""

    def __await__(self):  # type: ignore[no-untyped-def]
        return iter(())


_DONE = _Done()
