"""The interface between workflow code and the engine that runs it.

Workflow primitives (``pw.sleep``, ``pw.now``, step calls, ...) look up the current run in a
context variable and call one method of :class:`RunContext` on it; the engine's run implements
the interface. Many runs share one event loop, each task carrying its own context.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import WorkflowContextError

if TYPE_CHECKING:
    from .definitions import ChildOptions, Step, Workflow


@dataclass(frozen=True)
class RunInfo:
    """What a workflow can know about its own run (``pw.info()``)."""

    run_id: str
    workflow: str
    version: str | None
    attempt: int
    replaying: bool
    parent_run_id: str | None = None
    schedule_id: str | None = None
    started_at: float | None = None  # epoch seconds, on the engine's clock


class RunContext(ABC):
    """One method per workflow primitive; implemented by the engine's run."""

    @abstractmethod
    def call_step(self, step: Step, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Assign the call's step id now and return the awaitable that runs it durably."""

    @abstractmethod
    def call_child(self, workflow: Workflow, args: tuple[Any, ...], kwargs: dict[str, Any],
                   options: ChildOptions | None = None) -> tuple[str, Awaitable[Any]]:
        """Start ``workflow`` as a child run: its run id, and an awaitable of its result.

        ``options`` (default: terminate the child if this run ends first, no retry, no
        timeout) say how."""

    @abstractmethod
    async def sleep_until(self, until: float, name: str = "sleep") -> None:
        """Durable timer until the epoch time ``until``, its id counting calls of ``name``."""

    @abstractmethod
    async def wait_for_event(self, name: str, timeout: float | None,
                             label: str | None = None) -> Any:
        """Wait for an external event and return its payload (the wait's id counts calls
        of ``label``, else of ``event:<name>``)."""

    @abstractmethod
    def record_value(self, kind: str, make: Callable[[], Any]) -> Any:
        """Record ``make()`` once and return the recorded value on replay."""

    @abstractmethod
    def version_of(self, change_id: str, newest: int, *, oldest: int | None = None,
                   deprecated: bool = False) -> int:
        """The version of the code change ``change_id`` this run follows (recorded once)."""

    @abstractmethod
    async def side_effect(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` once (sync or async) and replay its recorded value."""

    @abstractmethod
    def set_signal_handler(self, name: str, fn: Callable[..., Any] | None) -> None:
        """Hand each signal ``name`` to ``fn`` (those waiting for a handler too)."""

    @abstractmethod
    def set_query_handler(self, name: str, fn: Callable[..., Any] | None) -> None:
        """Answer queries ``name`` with ``fn``."""

    @abstractmethod
    def set_update_handler(self, name: str, fn: Callable[..., Any] | None,
                           validator: Callable[..., Any] | None = None) -> None:
        """Run ``fn`` for each accepted update ``name``, ``validator`` deciding first."""

    @abstractmethod
    def wait_condition(self, predicate: Callable[[], bool]) -> asyncio.Future[bool]:
        """A future resolved once ``predicate()`` holds after an activation."""

    @abstractmethod
    def definition(self) -> Workflow:
        """The workflow definition the run's body is running."""

    @abstractmethod
    def clock_now(self) -> float:
        """The engine clock's time, epoch seconds."""

    @abstractmethod
    def info(self) -> RunInfo:
        """The run's identity."""

    @abstractmethod
    def logger(self) -> logging.Logger:
        """A logger silent while the run replays."""


class ContinueAsNew(BaseException):
    """Raised by ``pw.continue_as_new`` to end the body; the engine starts the next run.

    A ``BaseException`` so that the workflow's ``except Exception`` blocks let it through.
    """

    def __init__(self, workflow: Workflow, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        super().__init__(workflow.name)
        self.workflow = workflow
        self.args = args
        self.kwargs = kwargs


current_run: ContextVar[RunContext | None] = ContextVar("pyworkflow_nb_run", default=None)
current_step: ContextVar[str | None] = ContextVar("pyworkflow_nb_step", default=None)
step_attempt: ContextVar[int] = ContextVar("pyworkflow_nb_attempt", default=1)


def require_run(primitive: str) -> RunContext:
    """The current run, or an error saying where ``primitive`` can be used."""
    run = current_run.get()
    if run is None:
        raise WorkflowContextError(
            f"{primitive} needs a @pw.workflow function around it; call it inside a workflow "
            "(start one with pw.run(wf) or await pw.start(wf))."
        )
    step = current_step.get()
    if step is not None:
        raise WorkflowContextError(
            f"{primitive} cannot be used inside step {step}: a step is one unit of work that "
            "is retried as a whole, so durable primitives belong in the workflow around it. "
            "Move the call into the workflow, or use a plain asyncio/time call in the step."
        )
    return run
