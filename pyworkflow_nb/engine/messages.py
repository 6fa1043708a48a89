"""Messages to a running workflow: signals, queries, updates, and conditions it waits on.

A signal is recorded (``signal.received``) and then handed to the handler the body set with
``pw.set_signal_handler``, at an activation like any outcome, so a replay calls the handler at
the same point; a signal that comes before its handler is set waits for it. A query calls the
handler set with ``pw.set_query_handler`` between two activations and records nothing. An
update runs its validator on the live instance (a refusal is recorded, the body never sees
it), then is recorded as accepted and handed over like a signal; its handler's return value
(``update.completed``) goes back to the caller, and an update id already seen is answered
from what it recorded. A condition (``pw.wait_condition``) is checked after every activation
until it holds.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, UpdateFailed, UpdateRejected, WorkflowContextError
from ..history import vocabulary as ev
from ..serde import encode, encode_error
from .history import Outcome

if TYPE_CHECKING:
    from .replay import Replay
    from .workflow_loop import WorkflowLoop


@dataclass(eq=False)
class Condition:
    """A ``wait_condition`` in progress: its predicate and the future the body awaits."""

    predicate: Callable[[], bool]
    future: asyncio.Future[bool]


class Messages:
    """The handlers a body set, the signals waiting for one, and its conditions."""

    loop: WorkflowLoop
    task: asyncio.Task[Any] | None
    replay: Replay
    after_durable: Callable[..., None]
    signal_handlers: dict[str, Callable[..., Any]]
    query_handlers: dict[str, Callable[..., Any]]
    update_handlers: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]]
    updates: dict[str, asyncio.Future[Any]]  # update id -> its outcome, on the engine's loop
    engine_loop: asyncio.AbstractEventLoop
    emit: Callable[..., float]
    unhandled: dict[str, deque[tuple[Any, ...]]]  # signals that came before their handler
    conditions: list[Condition]
    body_context: contextvars.Context | None
    handler_error: BaseException | None
    _cancel_body: Callable[[], None]
    refresh_status: Callable[[], None]

    # -- set by the body -------------------------------------------------------------------------

    def set_signal_handler(self, name: str, fn: Callable[..., Any] | None) -> None:
        if fn is None:
            self.signal_handlers.pop(name, None)
            return
        self.signal_handlers[name] = fn
        waiting = self.unhandled.pop(name, None)
        while waiting:
            self._call_handler(fn, waiting.popleft())

    def set_query_handler(self, name: str, fn: Callable[..., Any] | None) -> None:
        if fn is None:
            self.query_handlers.pop(name, None)
        else:
            self.query_handlers[name] = fn

    def set_update_handler(self, name: str, fn: Callable[..., Any] | None,
                           validator: Callable[..., Any] | None = None) -> None:
        if fn is None:
            self.update_handlers.pop(name, None)
        else:
            self.update_handlers[name] = (fn, validator)

    def wait_condition(self, predicate: Callable[[], bool]) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = self.loop.create_future()
        self.conditions.append(Condition(predicate, future))
        self.refresh_status()
        return future

    # -- from outside ----------------------------------------------------------------------------

    def receive_signal(self, name: str, args: tuple[Any, ...], seq: int, ts: float) -> None:
        """A signal was just recorded for this run: hand it over in order (or once begun)."""
        if self.task is None:  # recovered, not begun: it comes after the loaded history
            self.replay.add_outcome(Outcome(seq, ts, signal=name, payload=args))
        else:
            self.after_durable(lambda: self.on_signal(name, args), ts, durable=False)

    def on_signal(self, name: str, args: tuple[Any, ...]) -> None:
        """A recorded signal reaches the body (at an activation, or replayed)."""
        fn = self.signal_handlers.get(name)
        if fn is None:
            self.unhandled.setdefault(name, deque()).append(args)
        else:
            self._call_handler(fn, args)

    def answer_query(self, name: str, args: tuple[Any, ...]) -> Any:
        """Call the query handler ``name`` on the body as it stands now."""
        fn = self.query_handlers.get(name)
        if fn is None:
            raise self._unknown("query", name, self.query_handlers)
        value = self._context.run(fn, *args)
        if asyncio.iscoroutine(value):
            value.close()
            raise WorkflowContextError(
                f"query handler {name!r} is async: a query reads the workflow's state without "
                "waiting for anything, so its handler must be a plain def")
        return value

    def admit_update(self, update_id: str, name: str, args: tuple[Any, ...]) -> None:
        """Run the validator of update ``name``: raises (and records) a refusal."""
        entry = self.update_handlers.get(name)
        if entry is None:
            raise self._unknown("update", name, self.update_handlers)
        validator = entry[1]
        if validator is None:
            return
        try:
            self._context.run(validator, *args)
        except Exception as exc:
            self.emit(ev.UPDATE_REJECTED, update_id, None,
                      ev.update_rejected(name, encode_error(exc)))
            raise UpdateRejected(f"update {name!r} of run {self.replay.run_id!r} was refused: "
                                 f"{exc}", run_id=self.replay.run_id,
                                 update_id=update_id) from exc

    def outcome_of(self, update_id: str) -> asyncio.Future[Any]:
        """The caller's side of an update: resolved with its result (or its failure)."""
        future = self.updates.get(update_id)
        if future is None:
            future = self.updates[update_id] = self.engine_loop.create_future()
        return future

    def receive_update(self, update_id: str, name: str, args: tuple[Any, ...],
                       ts: float) -> None:
        """An update was just recorded as accepted: hand it to the body at an activation."""
        self.after_durable(lambda: self.on_update(update_id, name, args), ts, durable=False)

    def end_updates(self, status: str) -> None:
        """The run ended: callers of updates still running learn it."""
        for update_id, future in self.updates.items():
            if not future.done():
                future.set_exception(UpdateFailed(
                    f"run {self.replay.run_id!r} ended ({status}) before update {update_id!r} "
                    "finished", run_id=self.replay.run_id, update_id=update_id))

    def on_update(self, update_id: str, name: str, args: tuple[Any, ...]) -> None:
        """An accepted update reaches the body: run its handler as a task of the run."""
        entry = self.update_handlers.get(name)
        outcome = self.outcome_of(update_id)
        if entry is None:  # replayed after the code dropped the handler
            self._handler_failed(InvalidInput(f"the workflow no longer handles update {name!r}"))
            return
        context = self._context

        async def handle() -> Any:
            value = entry[0](*args)
            return await value if asyncio.iscoroutine(value) else value

        task = self.loop.create_task(handle(), context=context)
        task.add_done_callback(lambda t: self._update_done(update_id, name, t, outcome))

    def _update_done(self, update_id: str, name: str, task: asyncio.Task[Any],
                     outcome: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        recorded = self.replay.history.updates_done.get(update_id)
        exc = task.exception()
        if exc is None:
            value = task.result()
            if recorded is None:
                self.emit(ev.UPDATE_COMPLETED, update_id, None,
                          ev.result(encode(value, where=f"the result of update {name!r}")))
            if not outcome.done():
                outcome.set_result(value)
            return
        if recorded is None:
            self.emit(ev.UPDATE_FAILED, update_id, None, ev.update_failed(encode_error(exc)))
        failure = UpdateFailed(f"update {name!r} of run {self.replay.run_id!r} failed: {exc}",
                               run_id=self.replay.run_id, update_id=update_id)
        failure.__cause__ = exc
        if not outcome.done():
            outcome.set_exception(failure)

    def _unknown(self, kind: str, name: str, handlers: dict[str, Any]) -> InvalidInput:
        """The error for a query or update name the body set no handler for."""
        known = ", ".join(sorted(handlers)) or \
            f"none (the workflow sets them with pw.set_{kind}_handler)"
        plural = "queries" if kind == "query" else f"{kind}s"
        return InvalidInput(f"run {self.replay.run_id!r} has no {kind} {name!r}; its {plural}: "
                            f"{known}")

    @property
    def _context(self) -> contextvars.Context:
        """The body's context, where handlers and predicates run (set when the run begins)."""
        assert self.body_context is not None, "only a begun run has handlers"
        return self.body_context

    # -- between activations ---------------------------------------------------------------------

    def advance(self) -> None:
        """Run the body until idle, then settle every condition that now holds."""
        self.loop.run_until_idle()
        while self.conditions:
            held = []
            for condition in list(self.conditions):
                if condition.future.done():  # timed out: the body gave up on it
                    self.conditions.remove(condition)
                elif self._holds(condition):
                    held.append(condition)
            if not held:
                return
            for condition in held:
                self.conditions.remove(condition)
                if not condition.future.done():
                    condition.future.set_result(True)
            self.refresh_status()
            self.loop.run_until_idle()

    def _holds(self, condition: Condition) -> bool:
        try:
            return bool(self._context.run(condition.predicate))
        except Exception as exc:
            condition.future.set_exception(exc)  # raised where the body waits
            return False

    def _call_handler(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        context = self._context
        try:
            value = context.run(fn, *args)
        except Exception as exc:
            self._handler_failed(exc)
            return
        if asyncio.iscoroutine(value):
            task = self.loop.create_task(value, context=context)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._handler_failed(task.exception())  # type: ignore[arg-type]

    def _handler_failed(self, exc: BaseException) -> None:
        """A signal handler raised: the run fails with that error."""
        if self.handler_error is None:
            self.handler_error = exc
            self._cancel_body()
