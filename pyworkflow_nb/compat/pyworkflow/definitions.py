"""pyworkflow-engine's ``@workflow``, ``@step``, their class forms ``Workflow`` and ``Step``,
and ``sleep``: each is this engine's own definition, with pyworkflow's documented defaults."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from ... import primitives
from ...context import current_run, current_step
from ...definitions import Step as NativeStep
from ...definitions import Workflow as NativeWorkflow
from ...definitions import source_of
from ...definitions import step as native_step
from ...definitions import workflow as native_workflow
from ...durations import DurationLike, parse_duration
from ...errors import DefinitionError, InvalidInput
from .errors import CancellationError, FatalError

T = TypeVar("T")
_log = logging.getLogger("pyworkflow")

#: pyworkflow's documented step defaults (``timeout`` is this engine's per-attempt bound).
STEP_DEFAULTS: dict[str, Any] = {"max_retries": 3, "retry_delay": "fixed", "timeout": "60s"}


def _step_options(name: str | None, max_retries: int, retry_delay: Any,
                  timeout: DurationLike | None) -> dict[str, Any]:
    return {"name": name, "max_retries": max_retries, "retry_delay": retry_delay,
            "timeout": timeout}


async def checkpoint(awaitable: Awaitable[T]) -> T:
    """``awaitable``, with the run's cancellation raised as pyworkflow's
    ``CancellationError`` (carrying the reason)."""
    try:
        return await awaitable
    except asyncio.CancelledError:
        run = current_run.get()
        if run is not None and getattr(run, "cancel_requested", False):
            raise CancellationError(reason=getattr(run, "cancel_reason", None)) from None
        raise


def _cancellable(fn: Callable[..., Any], max_retries: int = 0) -> Callable[..., Any]:
    """``fn`` as a workflow body whose ``CancellationError`` (re-raised after clean-up) ends
    the run as cancelled, as this engine's ``asyncio.CancelledError`` does; a body that
    fails otherwise (not with ``FatalError``) runs again from the top, ``max_retries``
    times (its steps run again too)."""

    @functools.wraps(fn)
    async def body(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(max_retries + 1):
            try:
                return await fn(*args, **kwargs)
            except CancellationError as exc:
                run = current_run.get()
                if run is not None and getattr(run, "cancel_requested", False):
                    raise asyncio.CancelledError(str(exc)) from exc
                raise
            except FatalError:
                raise
            except Exception:
                if attempt == max_retries:
                    raise
                _log.warning("workflow %s failed (attempt %d of %d); running it again",
                             getattr(fn, "__name__", fn), attempt + 1, max_retries + 1)
        raise AssertionError("unreachable")

    return body


def _call_step(definition: NativeStep[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """A step call from pyworkflow code: in a workflow, awaiting it raises the run's cancel
    as ``CancellationError``; elsewhere a step is its function."""
    call = definition(*args, **kwargs)
    if current_run.get() is None or current_step.get() is not None:
        return call
    return checkpoint(call)


class StepFunction:
    """A ``@step`` as pyworkflow code calls it: this engine's step, whose await raises the
    run's cancellation as ``CancellationError``. ``__pw_step__`` is the engine's step."""

    def __init__(self, definition: NativeStep[..., Any]) -> None:
        self.__pw_step__ = definition
        functools.update_wrapper(self, definition.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call_step(self.__pw_step__, args, kwargs)


def step(fn: Any = None, /, *, name: str | None = None,
         max_retries: int = STEP_DEFAULTS["max_retries"],
         retry_delay: Any = STEP_DEFAULTS["retry_delay"],
         timeout: DurationLike | None = STEP_DEFAULTS["timeout"], **_ignored: Any) -> Any:
    """``@step()`` (or bare ``@step``): a retried unit of work whose result is recorded.

    ``retry_delay`` is ``"fixed"`` (1 s between attempts), ``"exponential"`` (1 s, 2 s,
    4 s, ...) or a duration; ``timeout`` bounds each attempt (60 s unless given).
    """
    options = _step_options(name, max_retries, retry_delay, timeout)

    def decorate(f: Callable[..., Any]) -> StepFunction:
        return StepFunction(native_step(**options)(f))

    return decorate if fn is None else decorate(fn)


def workflow(fn: Any = None, /, *, name: str | None = None,
             max_duration: DurationLike | None = None, max_retries: int = 0,
             durable: bool | None = None, **_ignored: Any) -> Any:
    """``@workflow()`` (or bare ``@workflow``): a durable workflow.

    ``max_duration`` bounds the run (it fails once the duration passes); ``max_retries``
    runs a failed body again from the top; ``durable`` is accepted and always true here:
    every run is recorded in the store.
    """
    if max_duration is not None:
        parse_duration(max_duration, what="max_duration")  # a bad value fails here, named
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidInput(f"@workflow(max_retries=...) takes a whole number >= 0, got "
                           f"{max_retries!r}")

    def decorate(f: Callable[..., Any]) -> NativeWorkflow[..., Any]:
        if not inspect.iscoroutinefunction(f):
            raise DefinitionError(f"@workflow decorates an async def, got {f!r}")
        return native_workflow(name=name or f.__name__, timeout=max_duration,
                               source=source_of(f))(_cancellable(f, max_retries))

    return decorate if fn is None else decorate(fn)


class Step:
    """The class form of a step: subclass it, write ``async def execute(self, ...)``, and
    call an instance (``await FetchUser()(user_id)``). Class attributes ``name``,
    ``max_retries``, ``retry_delay`` and ``timeout`` are its options."""

    name: ClassVar[str | None] = None
    max_retries: ClassVar[int] = STEP_DEFAULTS["max_retries"]
    retry_delay: ClassVar[Any] = STEP_DEFAULTS["retry_delay"]
    timeout: ClassVar[DurationLike | None] = STEP_DEFAULTS["timeout"]
    __pw_step__: ClassVar[NativeStep[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        if execute is None:
            raise DefinitionError(f"{cls.__name__}(Step) needs an execute(self, ...) method")

        @functools.wraps(execute)
        async def run(*args: Any, **kw: Any) -> Any:
            result = execute(cls(), *args, **kw)
            return await result if inspect.isawaitable(result) else result

        run.__name__ = cls.name or cls.__name__
        cls.__pw_step__ = native_step(**_step_options(cls.name or cls.__name__,
                                                      cls.max_retries, cls.retry_delay,
                                                      cls.timeout))(run)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call_step(type(self).__pw_step__, args, kwargs)


class Workflow:
    """The class form of a workflow: subclass it and write ``async def run(self, ...)``;
    ``start(MyWorkflow, ...)`` starts it. Class attributes ``name``, ``max_duration`` and
    ``max_retries`` are its options."""

    name: ClassVar[str | None] = None
    max_duration: ClassVar[DurationLike | None] = None
    max_retries: ClassVar[int] = 0
    __pw_workflow__: ClassVar[NativeWorkflow[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        body = cls.__dict__.get("run")
        if body is None:
            raise DefinitionError(f"{cls.__name__}(Workflow) needs an async run(self, ...) "
                                  "method")

        async def run(*args: Any, **kw: Any) -> Any:
            return await body(cls(), *args, **kw)

        run.__name__ = cls.name or cls.__name__
        cls.__pw_workflow__ = native_workflow(name=cls.name or cls.__name__,
                                              timeout=cls.max_duration,
                                              source=source_of(body))(
                                                  _cancellable(run, cls.max_retries))


def native_of(target: Any) -> NativeWorkflow[..., Any]:
    """The engine's workflow behind a ``@workflow`` function or a ``Workflow`` class."""
    if isinstance(target, NativeWorkflow):
        return target
    definition = getattr(target, "__pw_workflow__", None)
    if isinstance(definition, NativeWorkflow):
        return definition
    raise DefinitionError(f"start() takes a @workflow function or a Workflow subclass, got "
                          f"{target!r}")


@contextlib.asynccontextmanager
async def shield() -> AsyncIterator[None]:
    """``async with shield():`` a block a cancel does not interrupt: a ``cancel_workflow``
    that comes meanwhile lands (as ``CancellationError``) at the first await after it."""
    run = current_run.get()
    if run is None or current_step.get() is not None:
        yield
        return
    body: Any = run  # the engine's run: it holds cancels back while the body is shielded
    body.enter_shield()
    try:
        yield
    finally:
        body.exit_shield()


async def sleep(duration: Any) -> None:
    """Sleep durably: a duration string (``"1h30m"``), seconds, a ``timedelta``, or a
    ``datetime`` to sleep until."""
    await checkpoint(primitives.sleep(duration))

__all__ = ["Step", "StepFunction", "Workflow", "checkpoint", "native_of", "shield", "sleep",
           "step", "workflow"]
