"""One run of a workflow: its body on a loop of its own, activated by the engine.

Every primitive the body calls becomes a *command* with an id assigned at call time
(``fetch#2``). The engine carries commands out on its own loop (see :mod:`.commands`) and
hands their outcomes back one at a time, running the body until it is idle after each. A
recovered run first replays: its recorded outcomes are handed over in recorded order (see
:mod:`.replay` for when the code has diverged), then it goes on live.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..context import RunInfo, current_run, current_step, step_attempt
from ..definitions import Workflow
from ..errors import NonDeterminismError
from ..history import vocabulary as ev
from ..serde import decode, decode_error, encode, encode_error
from ..store import EventRow, RunRow
from .commands import Commands
from .history import Command, History, Outcome
from .replay import Replay
from .workflow_loop import WorkflowLoop, io_refused

if TYPE_CHECKING:
    from .engine import Engine

_log = logging.getLogger("pyworkflow_nb.workflow")
R = TypeVar("R", bound="Run")


class _ReplayLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Drops records while the run replays, so replayed code does not log twice."""

    def __init__(self, run: Run) -> None:
        super().__init__(_log, {"run_id": run.row.run_id})
        self._run = run

    def isEnabledFor(self, level: int) -> bool:
        return not self._run.replaying and super().isEnabledFor(level)


@dataclass(eq=False)
class Pending:
    """A command the body issued and has not seen the end of."""

    kind: str
    id: str
    future: asyncio.Future[Any]  # on the run's loop: what the body awaits
    recorded: Command | None
    start: Callable[[Pending], None]  # carries the command out live (or resumes it)
    started: bool = False
    counted: bool = False  # shown in the run's status as sleeping or waiting
    work: asyncio.Future[Any] | None = None  # the engine's side, cancelled if the body gives up


@dataclass(eq=False)
class _Delivery:
    """An outcome waiting to be handed to the body, once it is durable."""

    apply: Callable[[], None]
    ts: float
    ready: bool = False


@dataclass(eq=False)
class Ending:
    """How a run ended: its terminal status, its result or error."""

    status: str
    error: dict[str, Any] | None = None
    exc: BaseException | None = None
    result_json: str | None = None


class Run(Commands):
    """The live state of one run, and the implementation of every workflow primitive."""

    def __init__(self, engine: Engine, row: RunRow, history: History | None = None,
                 args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.row = row
        self.args = args
        self.kwargs = kwargs or {}
        self.history = history or History()
        self.seq = self.history.last_seq
        self.replay = Replay(self.history, row.run_id, row.workflow)
        # its I/O methods are refusals installed on the class after its definition
        self.loop = WorkflowLoop(  # type: ignore[abstract]
            self._start_loop_timer, self._cancel_loop_timer,
            self.history.started_at or engine.clock.now())
        self.task: asyncio.Task[Any] | None = None  # the body, on ``self.loop``
        self.done: asyncio.Future[Any] = engine.loop.create_future()
        self.pending: dict[tuple[str, str], Pending] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.inbox: dict[str, deque[Any]] = {}
        self.waiters: dict[str, deque[Pending]] = {}
        self.loop_timers: dict[int, Pending] = {}
        self.deliveries: deque[_Delivery] = deque()
        self.cancel_requested = False
        self.divergence: NonDeterminismError | None = None
        self.failed_step: tuple[BaseException, str] | None = None
        self.running_steps = self.sleeping = self.waiting = 0
        self.active = 0  # engine-side tasks doing work now (not waiting on a timer)
        self.awaited_children: set[str] = set()  # child runs a task of this run awaits
        self.recovered = False
        self.ended_replaying = False
        self._activation_due = False
        self._ending: Ending | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._store_error: BaseException | None = None
        self._logger: _ReplayLogger | None = None

    @classmethod
    def from_store(cls: type[R], engine: Engine, row: RunRow, events: list[EventRow]) -> R:
        """A run loaded from its stored row and history (recovery, retry, the Replayer)."""
        payload = decode(row.input) or {}
        return cls(engine, row, History.from_events(events), tuple(payload.get("args", ())),
                   payload.get("kwargs", {}))

    # -- identity ------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.row.run_id

    @property
    def replaying(self) -> bool:
        return self.replay.active

    def info(self) -> RunInfo:
        return RunInfo(self.row.run_id, self.row.workflow, self.row.version,
                       step_attempt.get(), self.replaying, self.row.parent_run_id,
                       self.row.schedule_id)

    def logger(self) -> logging.Logger:
        if self._logger is None:
            self._logger = _ReplayLogger(self)
        return self._logger  # type: ignore[return-value]

    def clock_now(self) -> float:
        return self.engine.clock.now()

    # -- recording -----------------------------------------------------------------------------

    def emit(self, type_: str, step: str | None = None, attempt: int | None = None,
             data: str | None = None, ts: float | None = None) -> float:
        """Append one event of this run to the writer; returns its timestamp."""
        self.seq += 1
        when = self.engine.clock.now() if ts is None else ts
        self.engine.record((self.row.run_id, self.seq, when, type_, step, attempt, data))
        return when

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
            if self.engine.status_listeners:
                self.engine.status_changed(row)

    def refresh_status(self) -> None:
        if self.running_steps or not (self.waiting or self.sleeping):
            self.set_status(ev.RUNNING)
        else:
            self.set_status(ev.WAITING if self.waiting else ev.SLEEPING)

    @property
    def settled(self) -> bool:
        """Nothing of this run moves until time passes or something arrives from outside."""
        running_children = sum(c in self.engine.runs for c in self.awaited_children)
        return not (self.active > running_children or self.deliveries or self._activation_due
                    or (self._finishing is not None and not self._finishing.done()))

    # -- issuing commands (on the run's loop) ---------------------------------------------------

    def next_id(self, kind: str, name: str) -> str:
        key = (kind, name)
        n = self.counters[key] = self.counters.get(key, 0) + 1
        return f"{name}#{n}"

    def issue(self, kind: str, name: str, start: Callable[[Pending], None]) -> Pending:
        """Give the call its id, match it against the history, and start it if it is live."""
        command_id = self.next_id(kind, name)
        where = self._call_site() if self.replay.active else ""
        recorded = self.replay.match(kind, command_id, where)
        p = Pending(kind, command_id, self.loop.create_future(), recorded, start)
        if self.divergence is not None:
            p.future.cancel()
            return p
        self.pending[(kind, command_id)] = p
        p.future.add_done_callback(lambda _: self._given_up(p))
        if recorded is None and not self.replay.active:
            p.started = True
            start(p)
        return p

    def _given_up(self, p: Pending) -> None:
        self.pending.pop((p.kind, p.id), None)
        if p.future.cancelled() and p.work is not None and not p.work.done():
            p.work.cancel()

    def _call_site(self) -> str:
        frame = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
                ("pyworkflow_nb", "asyncio")):
            frame = frame.f_back  # type: ignore[assignment]
        return "" if frame is None else f"{frame.f_code.co_filename}, line {frame.f_lineno}"

    # -- handing outcomes over (on the engine's loop) -------------------------------------------

    def deliver(self, p: Pending, value: Any = None, error: BaseException | None = None, *,
                ts: float, durable: bool = True) -> None:
        """Queue the outcome of ``p``; the body sees it once it is durable, in order."""
        self.after_durable(lambda: _settle(p.future, value, error), ts, durable=durable)

    def after_durable(self, apply: Callable[[], None], ts: float, *,
                      durable: bool = True) -> None:
        item = _Delivery(apply, ts)
        self.deliveries.append(item)
        if durable and self.engine.writer.sync:
            def ready(fut: asyncio.Future[None]) -> None:
                if not fut.cancelled() and fut.exception() is not None:
                    exc = fut.exception()
                    item.apply = lambda: self._fail_body(exc)  # type: ignore[arg-type]
                item.ready = True
                self._activate_soon()

            self.engine.writer.durable().add_done_callback(ready)
        else:
            item.ready = True
            self._activate_soon()

    def _activate_soon(self) -> None:
        if not self._activation_due:
            self._activation_due = True
            self.engine.loop.call_soon(self._activate)

    def _activate(self) -> None:
        self._activation_due = False
        queue = self.deliveries
        while queue and queue[0].ready and not self.loop.is_closed():
            item = queue.popleft()
            self.loop.now = item.ts
            item.apply()
            self.loop.run_until_idle()
        self.engine.writer.commit_soon()  # what the body now waits on is recorded promptly
        self._check_ended()

    def _fail_body(self, exc: BaseException) -> None:
        """The store failed under a command: the run stops with that error."""
        if self.task is not None and not self.task.done():
            self._store_error = exc
            self.task.cancel()

    # -- driving the body ----------------------------------------------------------------------

    def begin(self, workflow: Workflow) -> None:
        """Start the body (replaying its history first, if it has one)."""
        if self.row.version != workflow.version and not self.history.order:
            self.row.version = workflow.version
        ctx = contextvars.copy_context()
        ctx.run(current_run.set, self)
        ctx.run(current_step.set, None)
        self.task = self.loop.create_task(self._body(workflow), context=ctx)
        self.loop.run_until_idle()
        self._replay()  # with an empty history, or once matched, this only goes live
        self.engine.writer.commit_soon()
        self._check_ended()

    def _replay(self) -> None:
        replay = self.replay
        while self.divergence is None:
            error = replay.check_idle()
            if error is not None or not replay.outcomes or self.task_done:
                break
            outcome = replay.outcomes.popleft()
            error = replay.check_outcome(outcome)
            if error is not None:
                break
            self.loop.now = outcome.ts
            self._hand_over(outcome)
            self.loop.run_until_idle()
        else:
            return
        error = error or (None if self.task_done else replay.check_end())
        if error is not None:
            self.diverge(error)
            return
        replay.outcomes.clear()
        replay.unmatched.clear()
        self._go_live()

    @property
    def task_done(self) -> bool:
        return self.task is not None and self.task.done()

    def _hand_over(self, outcome: Outcome) -> None:
        cmd = outcome.command
        if cmd is None:
            if outcome.event is None:
                self.cancel_requested = True
                self._cancel_body()
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
            _settle(p.future, None, self.timeout_error(cmd.data.get("event", ""), cmd.id,
                                                       cmd.data.get("timeout")))
        elif cmd.failed:
            error = decode_error(cmd.error or {})
            if cmd.kind == "step":
                self.failed_step = (error, cmd.id)
            _settle(p.future, None, error)
        else:
            _settle(p.future, cmd.result, None)

    def _go_live(self) -> None:
        for p in list(self.pending.values()):
            if not p.started and not p.future.done():
                p.started = True
                p.start(p)
        for name in list(self.inbox):
            while self.inbox.get(name) and self.waiters.get(name):
                self.complete_wait(self.waiters[name][0], name, self.inbox[name].popleft())

    def diverge(self, error: NonDeterminismError) -> None:
        """Fail the run: its code no longer matches its history."""
        if self.divergence is None:
            self.divergence = error
            self.replay.outcomes.clear()
            self._cancel_body()
            self.loop.run_until_idle()

    def _cancel_body(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def receive(self, name: str, payload: Any, seq: int, ts: float) -> None:
        """An event was just recorded for this run: hand it over (in order, if not begun)."""
        if self.task is None:  # recovered, not begun: it comes after the loaded history
            self.replay.outcomes.append(Outcome(seq, ts, event=name, payload=payload))
        else:
            self.on_event(name, payload)

    def request_cancel(self, ts: float) -> None:
        """Cancel the body once the cancel request is durable."""
        self.cancel_requested = True
        self.after_durable(self._cancel_body, ts)

    async def _body(self, workflow: Workflow) -> None:
        try:
            coro = workflow.fn(*self.args, **self.kwargs)
            if workflow.timeout is None:
                result = await coro
            else:
                result = await self.with_timeout(coro, workflow.timeout)
            if self.replay.active and self.replay.unmatched:
                raise self.replay.diverged("the workflow returned")
            data = encode(result, where=f"the result of run {self.run_id}")
        except asyncio.CancelledError:
            if self.engine.closing:
                raise
            if self.divergence is not None:
                self._end(self._failure(self.divergence))
            elif self._store_error is not None:
                self._end(self._failure(self._store_error))
            elif self.cancel_requested:
                self._end(Ending(ev.CANCELLED))
            else:
                raise
            return
        except RuntimeError as exc:
            if "attached to a different loop" not in str(exc):
                self._end(self._failure(exc))
                return
            refused = io_refused("awaiting a future or task of another event loop")
            refused.__cause__ = exc
            self._end(self._failure(refused))
            return
        except Exception as exc:
            self._end(self._failure(exc))
            return
        self._end(Ending(ev.COMPLETED, result_json=data))

    def _failure(self, exc: BaseException) -> Ending:
        step = self.failed_step[1] if self.failed_step and self.failed_step[0] is exc else None
        error = encode_error(exc)
        if step:
            error["step"] = step
        return Ending(ev.FAILED, error, exc)

    def _end(self, ending: Ending) -> None:
        self._ending = ending
        self.ended_replaying = self.replay.active

    def _check_ended(self) -> None:
        if self._ending is not None and self._finishing is None:
            self._finishing = self.engine.loop.create_task(self.finish(self._ending))

    async def finish(self, ending: Ending) -> None:
        """Record the run's end, make it durable, and tell the engine."""
        if ending.result_json is not None:
            data = ev.result(ending.result_json)
        elif ending.error is not None:
            data = ev.workflow_failed(ending.error)
        else:
            data = ev.EMPTY
        self.emit(ev.FINAL_EVENTS[ending.status], None, None, data)
        row = self.row
        now = self.engine.clock.now()
        row.status = ending.status
        if ending.result_json is not None:
            row.result = ending.result_json
        error = ending.error
        row.error = None if error is None else json.dumps(
            {"type": error["type"], "message": error["message"], "step": error.get("step")})
        row.finished_at = row.updated_at = now
        self.engine.writer.run_changed(row)
        self.loop.close()
        try:
            await self.durable()
        finally:
            self.engine.finished(self, ending.exc)

    def stop(self) -> list[asyncio.Future[Any]]:
        """Stop where it is (the engine closes); returns the engine-side work to wait for."""
        works = [p.work for p in self.pending.values() if p.work is not None
                 and not p.work.done()]
        for work in works:
            work.cancel()
        self._cancel_body()
        if not self.loop.is_closed():
            self.loop.run_until_idle()
            self.loop.close()
        return works


def _settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class _Done:
    """An awaitable that is already complete (relaxed durability)."""

    def __await__(self):  # type: ignore[no-untyped-def]
        return iter(())


_DONE = _Done()
