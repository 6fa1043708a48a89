"""One run of a workflow: its body on a loop of its own, activated by the engine.

Every primitive the body calls becomes a *command* with an id assigned at call time
(``fetch#2``). The engine carries commands out on its own loop (see :mod:`.commands`) and
hands their outcomes back one at a time, running the body until it is idle after each. A
recovered run first replays its history (:mod:`.replaying`, with the divergence rule in
:mod:`.replay`), then goes on live; :mod:`.ending` records how the body ends. This module
holds the run's identity, its recording, and the issuing and handing over of commands.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..context import RunInfo, current_run, current_step, step_attempt
from ..definitions import Workflow
from ..errors import NonDeterminismError
from ..history import vocabulary as ev
from ..serde import decode
from ..store import EventRow, RunRow
from .ending import Ending, Ends
from .history import History
from .messages import Condition, Messages
from .pending import DONE, Delivery, Pending, settle
from .replay import Replay
from .workflow_loop import WorkflowLoop

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


class Run(Messages, Ends):
    """The live state of one run, and the implementation of every workflow primitive."""

    # slots, not a __dict__: a sleeping run costs ~1 KB less, and there may be thousands
    __slots__ = (
        "_activation_due", "_ending", "_finishing", "_logger", "_resumed", "_store_error",
        "active", "args", "awaited_children", "body_context", "cancel_held", "cancel_reason",
        "cancel_requested", "children", "conditions", "counters", "deliveries",
        "divergence", "done", "ended_replaying", "engine", "engine_loop", "failed_step",
        "handler_error", "held", "history", "inbox", "kwargs", "loop", "loop_timers",
        "paused", "pending", "query_handlers", "recovered", "replay", "row",
        "running_steps", "seq", "shield_depth", "signal_handlers", "sleeping", "stopped",
        "task", "terminating",
        "unhandled", "update_handlers", "updates", "versions", "waiters", "waiting",
        "workflow",
    )

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
        self.versions: dict[str, int] = {}  # change id -> version, once the body asked
        self.waiters: dict[str, deque[Pending]] = {}
        self.loop_timers: dict[int, Pending] = {}
        self.deliveries: list[Delivery] = []  # few at a time: a list is lighter than a deque
        self.cancel_requested = False
        self.cancel_reason: str | None = None
        self.shield_depth = 0  # nested shielded blocks the body is in (a cancel waits)
        self.cancel_held = False  # a cancel came while shielded: it lands when they end
        self.terminating = False  # terminate() under way: the body gets and issues nothing
        self.stopped = False  # dropped where it is (dormant): nothing more is recorded
        self.paused = self.history.paused
        self.held: list[Pending] = []
        self.workflow: Workflow | None = None  # the definition the body runs, once begun
        self.signal_handlers: dict[str, Callable[..., Any]] = {}
        self.query_handlers: dict[str, Callable[..., Any]] = {}
        self.update_handlers: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
        self.updates: dict[str, asyncio.Future[Any]] = {}
        self.engine_loop = engine.loop
        self.unhandled: dict[str, deque[tuple[Any, ...]]] = {}
        self.conditions: list[Condition] = []
        self.body_context: contextvars.Context | None = None
        self.handler_error: BaseException | None = None
        self._resumed: asyncio.Future[None] | None = None
        self.divergence: NonDeterminismError | None = None
        self.failed_step: tuple[BaseException, str] | None = None
        self.running_steps = self.sleeping = self.waiting = 0
        self.active = 0  # engine-side tasks doing work now (not waiting on a timer)
        self.awaited_children: set[str] = set()  # child runs a task of this run awaits
        self.children: dict[str, str] = {}  # child run id -> its parent_close policy
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
                       self.row.schedule_id, self.row.started_at)

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
        return writer.durable() if writer.sync else DONE

    @property
    def halted(self) -> bool:
        """Stopped where it is (the engine closes, or the run goes dormant): the body unwinds
        and nothing of that is recorded."""
        return self.stopped or self.engine.closing

    def set_status(self, status: str) -> None:
        row = self.row
        # (at a shutdown the body unwinds: the status it had stays the stored one)
        if row.status != status and not row.finished and not self.halted:
            row.status = status
            row.updated_at = self.engine.clock.now()
            self.engine.writer.run_changed(row)
            if self.engine.status_listeners:
                self.engine.status_changed(row)
            if status == ev.SLEEPING:
                self.engine.dormancy.consider_soon(self)

    def refresh_status(self) -> None:
        if self.paused:
            self.set_status(ev.PAUSED)
        elif self.running_steps or not (self.waiting or self.sleeping or self.conditions):
            self.set_status(ev.RUNNING)
        else:
            self.set_status(ev.WAITING if self.waiting or (self.conditions and not self.sleeping)
                            else ev.SLEEPING)

    @property
    def settled(self) -> bool:
        """Nothing of this run moves until time passes or something arrives from outside."""
        running_children = sum(c in self.engine.runs for c in self.awaited_children)
        return not (self.active > running_children or (self.deliveries and not self.paused)
                    or self._activation_due
                    or (self._finishing is not None and not self._finishing.done()))

    # -- issuing commands (on the run's loop) ---------------------------------------------------

    def next_id(self, kind: str, name: str) -> str:
        key = (kind, name)
        n = self.counters[key] = self.counters.get(key, 0) + 1
        return f"{name}#{n}"

    def issue(self, kind: str, name: str, start: Callable[[Pending], None]) -> Pending:
        """Give the call its id, match it against the history, and start it if it is live."""
        command_id = self.next_id(kind, name)
        site = self._call_site() if self.replay.active else None
        recorded = self.replay.match(kind, command_id, site)
        p = Pending(kind, command_id, self.loop.create_future(), recorded, start)
        if self.divergence is not None or self.terminating or self.halted:
            p.future.cancel()  # (at a shutdown the body unwinds; what it would do is not done)
            return p
        self.pending[(kind, command_id)] = p
        p.future.add_done_callback(lambda _: self._given_up(p))
        if recorded is None and not self.replay.active:
            self.start_or_hold(p)
        return p

    def _given_up(self, p: Pending) -> None:
        self.pending.pop((p.kind, p.id), None)
        if p.future.cancelled() and p.work is not None and not p.work.done():
            p.work.cancel()

    def _call_site(self) -> tuple[str, int] | None:
        frame = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
                ("pyworkflow_nb", "asyncio")):
            frame = frame.f_back  # type: ignore[assignment]
        return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)

    # -- handing outcomes over (on the engine's loop) -------------------------------------------

    def deliver(self, p: Pending, value: Any = None, error: BaseException | None = None, *,
                ts: float, durable: bool = True) -> None:
        """Queue the outcome of ``p``; the body sees it once it is durable, in order."""
        self.after_durable(lambda: settle(p.future, value, error), ts, durable=durable)

    def after_durable(self, apply: Callable[[], None], ts: float, *,
                      durable: bool = True) -> None:
        item = Delivery(apply, ts)
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
        while queue and queue[0].ready and not self.paused and not self.loop.is_closed():
            item = queue.pop(0)
            self.loop.now = item.ts
            item.apply()
            self.advance()
        self._check_ended()

    def _fail_body(self, exc: BaseException) -> None:
        """The store failed under a command: the run stops with that error."""
        if self.task is not None and not self.task.done():
            self._store_error = exc
            self.task.cancel()

    # -- driving the body ----------------------------------------------------------------------

    def definition(self) -> Workflow:
        assert self.workflow is not None, "only a begun run's body asks"
        return self.workflow

    def begin(self, workflow: Workflow) -> None:
        """Start the body (replaying its history first, if it has one)."""
        self.workflow = workflow
        if self.row.version != workflow.version and not self.history.order:
            self.row.version = workflow.version
        ctx = contextvars.copy_context()
        ctx.run(current_run.set, self)
        ctx.run(current_step.set, None)
        self.body_context = ctx
        self.task = self.loop.create_task(self._body(workflow), context=ctx)
        self.advance()
        self._replay()  # with an empty history, or once matched, this only goes live
        self._check_ended()


