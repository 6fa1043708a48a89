"""The event loop a workflow body runs on: it advances only when the engine activates it.

Each run owns one :class:`WorkflowLoop`. Nothing on it waits for real time or I/O: the engine
resolves a command's future (a step finished, a timer fired, an event arrived) and then calls
:meth:`WorkflowLoop.run_until_idle`, which runs ready callbacks until every task of the run is
blocked on a command again. Timers asked of the loop (``asyncio.sleep``, ``asyncio.timeout``,
``wait_for``) become durable timer commands of the run, so they replay exactly. Anything that
needs real I/O raises :class:`~pyworkflow_nb.WorkflowContextError` naming the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import Context
from typing import Any, NoReturn

from ..errors import WorkflowContextError

_log = logging.getLogger("pyworkflow_nb.workflow")

TimerStarter = Callable[["asyncio.TimerHandle"], None]
"""Turns a loop timer into a durable timer command; told again when the handle is cancelled."""


def io_refused(call: str) -> WorkflowContextError:
    """The error for a call a workflow body cannot make."""
    return WorkflowContextError(
        f"{call} needs real I/O or another thread, which a workflow body cannot use: the body "
        "is replayed after a restart and must only await steps, timers and events. Move this "
        "code into a @pw.step (async or plain def) and await the step from the workflow.")


class WorkflowLoop(asyncio.AbstractEventLoop):
    """A ready queue and a clock, driven by the engine instead of by I/O."""

    def __init__(self, start_timer: TimerStarter, cancel_timer: TimerStarter,
                 now: float) -> None:
        # a list read from _head on (a deque costs 760 B in each of thousands of runs)
        self._ready: list[asyncio.Handle] = []
        self._head = 0
        self._start_timer = start_timer
        self._cancel_timer = cancel_timer
        self._closed = False
        self.now = now  # the run's time: the timestamp of the activation being processed

    # -- what a workflow body may use ------------------------------------------------------------

    def time(self) -> float:
        return self.now

    # typeshed spells these with TypeVarTuple; the behaviour is AbstractEventLoop's
    def call_soon(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                  context: Context | None = None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_at(self, when: float, callback: Callable[..., Any],  # type: ignore[override]
                *args: Any, context: Context | None = None) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        self._start_timer(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any],  # type: ignore[override]
                   *args: Any, context: Context | None = None) -> asyncio.TimerHandle:
        return self.call_at(self.now + delay, callback, *args, context=context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self._cancel_timer(handle)

    def fire(self, handle: asyncio.TimerHandle) -> None:
        """Queue a timer's callback: its durable timer fired."""
        if not handle.cancelled():
            self._ready.append(handle)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None,
                    context: Context | None = None) -> asyncio.Task[Any]:
        if context is None:
            return asyncio.Task(coro, loop=self, name=name)
        # Task(context=) is 3.11+: a task made inside ``context`` runs in a copy of it
        return context.run(asyncio.Task, coro, loop=self, name=name)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return asyncio._get_running_loop() is self

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()
        self._head = 0

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        _log.error("%s", context.get("message", "error in a workflow"),
                   exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    # -- driving ---------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return self._head >= len(self._ready)

    def run_until_idle(self) -> None:
        """Run ready callbacks until none is left (every task waits on a command)."""
        outer = asyncio._get_running_loop()
        asyncio._set_running_loop(self)
        try:
            ready = self._ready  # a nested call (from a callback) goes on from the same place
            while self._head < len(ready):
                handle = ready[self._head]
                self._head += 1
                if not handle._cancelled:  # type: ignore[attr-defined]
                    handle._run()  # type: ignore[attr-defined]
            ready.clear()
            self._head = 0
        finally:
            asyncio._set_running_loop(outer)

    # -- what it refuses -------------------------------------------------------------------------

    def _refuse(self, call: str) -> NoReturn:
        raise io_refused(call)

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> NoReturn:  # type: ignore[override]
        self._refuse("run_in_executor() (or asyncio.to_thread())")

    def call_soon_threadsafe(self, callback: Any, *args: Any,  # type: ignore[override]
                             context: Context | None = None) -> NoReturn:
        self._refuse("call_soon_threadsafe()")

    def run_until_complete(self, future: Any) -> NoReturn:  # type: ignore[override]
        self._refuse("run_until_complete()")

    def run_forever(self) -> NoReturn:
        self._refuse("run_forever()")


_IO_METHODS = (
    "getaddrinfo", "getnameinfo", "create_connection", "create_server", "create_unix_connection",
    "create_unix_server", "create_datagram_endpoint", "connect_accepted_socket",
    "connect_read_pipe", "connect_write_pipe", "subprocess_exec", "subprocess_shell",
    "add_reader", "remove_reader", "add_writer", "remove_writer", "sock_recv", "sock_recv_into",
    "sock_recvfrom", "sock_recvfrom_into", "sock_sendall", "sock_sendto", "sock_connect",
    "sock_accept", "sock_sendfile", "sendfile", "start_tls", "add_signal_handler",
    "remove_signal_handler", "set_default_executor", "shutdown_asyncgens",
    "shutdown_default_executor", "stop",
)


def _refusing(call: str) -> Callable[..., NoReturn]:
    def refuse(self: WorkflowLoop, *args: Any, **kwargs: Any) -> NoReturn:
        raise io_refused(f"{call}()")

    refuse.__name__ = call
    return refuse


for _name in _IO_METHODS:
    setattr(WorkflowLoop, _name, _refusing(_name))
