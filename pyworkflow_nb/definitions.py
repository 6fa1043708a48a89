"""``@workflow`` and ``@step``: definitions, their retry policies and the registry.

A definition is identified by its name and the hash of its source (its *version*).
Re-running a notebook cell re-defines the name: the registry keeps the newest definition and
tells its listeners (the engine records each version and resumes runs that waited for it).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

from .context import current_run, current_step
from .durations import DurationLike, parse_duration
from .errors import (
    DefinitionError,
    FatalError,
    InvalidInput,
    WorkflowContextError,
    WorkflowFailed,
)
from .history.vocabulary import PARENT_CLOSE_POLICIES

P = ParamSpec("P")
R = TypeVar("R")
RetryDelay = Literal["fixed", "exponential"] | DurationLike | list[DurationLike]

DEFAULT_MAX_RETRIES = 3
BASE_DELAY = 1.0
DEFAULT_MAX_DELAY = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed step attempt is tried again."""

    max_retries: int = DEFAULT_MAX_RETRIES
    strategy: str = "fixed"
    delays: tuple[float, ...] = (BASE_DELAY,)
    backoff: float = 2.0
    max_delay: float | None = DEFAULT_MAX_DELAY
    non_retryable: tuple[type[BaseException], ...] = ()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if self.strategy == "exponential":
            delay = self.delays[0] * self.backoff ** (attempt - 1)
        else:
            delay = self.delays[min(attempt, len(self.delays)) - 1]
        return delay if self.max_delay is None else min(delay, self.max_delay)

    def retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, (FatalError, WorkflowContextError, *self.non_retryable))


def _retry_policy(max_retries: int, retry_delay: Any, backoff: float, max_delay: Any,
                  non_retryable: Iterable[type[BaseException]], where: str) -> RetryPolicy:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidInput(f"{where}: max_retries must be an int >= 0, got {max_retries!r}")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 1:
        raise InvalidInput(f"{where}: backoff must be a number >= 1, got {backoff!r}")
    cap = None if max_delay is None else parse_duration(max_delay, what=f"{where} max_delay")
    delays: tuple[float, ...]
    if retry_delay in ("fixed", "exponential"):
        strategy, delays = retry_delay, (BASE_DELAY,)
    elif isinstance(retry_delay, (list, tuple)):
        if not retry_delay:
            raise InvalidInput(f"{where}: retry_delay list is empty; give at least one duration")
        strategy = "fixed"
        delays = tuple(parse_duration(d, what=f"{where} retry_delay") for d in retry_delay)
    else:
        strategy, delays = "fixed", (parse_duration(retry_delay, what=f"{where} retry_delay"),)
    if cap is None and strategy == "exponential":
        cap = DEFAULT_MAX_DELAY
    kinds = tuple(non_retryable)
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise InvalidInput(f"{where}: non_retryable must list exception types, got {kind!r}")
    return RetryPolicy(max_retries, strategy, delays, float(backoff), cap, kinds)


@dataclass(frozen=True)
class ChildOptions:
    """How a child run is started: its ``parent_close`` policy, the retry policy for a child
    run that fails (``None``: no retry) and the timeout over all its attempts."""

    parent_close: str = "terminate"
    retry: RetryPolicy | None = None
    timeout: float | None = None

    def retry_delay(self, attempt: int, exc: BaseException) -> float | None:
        """Seconds before the next child run after attempt ``attempt`` ended with ``exc``
        (``WorkflowFailed``, ``WorkflowCancelled``, ...), or ``None`` for no further attempt.
        Only a failure is retried: a child cancelled or terminated stays so."""
        policy = self.retry
        if (policy is None or attempt > policy.max_retries or not isinstance(exc, WorkflowFailed)
                or not policy.retryable(exc.__cause__ or exc)):
            return None
        return policy.delay(attempt)


_CHILD_RETRY_OPTIONS = ("max_retries", "retry_delay", "backoff", "max_delay", "non_retryable")


def child_options(parent_close: str, retry: int | dict[str, Any] | None,
                  timeout: DurationLike | None) -> ChildOptions:
    """Validate ``start_child``'s options: ``retry`` is a number of retries (1 s apart) or a
    dict of ``@pw.step``'s retry options; ``timeout`` a duration."""
    where = "start_child"
    if parent_close not in PARENT_CLOSE_POLICIES:
        raise InvalidInput(f"{where}(parent_close=...) must be one of "
                           f"{', '.join(map(repr, PARENT_CLOSE_POLICIES))}, got {parent_close!r}")
    policy = None
    if isinstance(retry, dict):
        unknown = sorted(set(retry) - set(_CHILD_RETRY_OPTIONS))
        if unknown:
            raise InvalidInput(f"{where}(retry=...) has unknown option(s) {', '.join(unknown)}; "
                               f"it takes {', '.join(_CHILD_RETRY_OPTIONS)}")
        given = {"max_retries": DEFAULT_MAX_RETRIES, "retry_delay": "fixed", "backoff": 2.0,
                 "max_delay": None, "non_retryable": (), **retry}
        policy = _retry_policy(given["max_retries"], given["retry_delay"], given["backoff"],
                               given["max_delay"], given["non_retryable"], f"{where}(retry=...)")
    elif retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int):
            raise InvalidInput(f"{where}(retry=...) must be a number of retries or a dict of "
                               f"retry options ({', '.join(_CHILD_RETRY_OPTIONS)}), got "
                               f"{retry!r}")
        policy = _retry_policy(retry, "fixed", 2.0, None, (), f"{where}(retry=...)")
    seconds = None if timeout is None else parse_duration(timeout, what=f"{where} timeout")
    if seconds is not None and seconds <= 0:
        raise InvalidInput(f"{where}(timeout=...) must be a positive duration, got {timeout!r}")
    return ChildOptions(parent_close, policy, seconds)


def source_of(fn: Callable[..., Any]) -> str:
    """The function's source, or a stand-in built from its bytecode when none is available."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = fn.__code__
        return f"# no source available\n{code.co_code.hex()}\n{code.co_consts!r}"


def code_hash(source: str) -> str:
    """A short, stable version id for a source text."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


@dataclass(eq=False)
class Definition:
    """What workflows and steps share: a name, a function and its version."""

    fn: Callable[..., Any]
    name: str
    source: str
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.version = code_hash(self.source)
        self.is_async = inspect.iscoroutinefunction(self.fn)
        functools.update_wrapper(self, self.fn)  # type: ignore[arg-type]

    @property
    def module(self) -> str | None:
        return getattr(self.fn, "__module__", None)


@dataclass(eq=False)
class Step(Definition, Generic[P, R]):
    """A unit of work whose result is recorded; retried as a whole on failure.

    Typed as a coroutine function of its result, async or plain ``def`` alike: in a workflow
    both are awaited (called outside one, a step is just its function).
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        run = current_run.get()
        if run is None or current_step.get() is not None:
            return self.fn(*args, **kwargs)
        return run.call_step(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<pw.step {self.name} version={self.version}>"


@dataclass(eq=False)
class Workflow(Definition, Generic[P, R]):
    """An async function whose every step, sleep and wait is recorded and replayable."""

    timeout: float | None = None
    schedule: str | dict[str, Any] | None = None  # declared with it; pw.schedule applies it

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        run = current_run.get()
        if run is None or current_step.get() is not None:
            return self.fn(*args, **kwargs)
        return run.call_child(self, args, kwargs)[1]

    def __repr__(self) -> str:
        return f"<pw.workflow {self.name} version={self.version}>"


class Registry:
    """Definitions by name; the newest definition of a name wins."""

    def __init__(self) -> None:
        self.workflows: dict[str, Workflow] = {}
        self.steps: dict[str, Step] = {}
        self.seen: dict[tuple[str, str], Definition] = {}
        self._listeners: list[Callable[[Definition], None]] = []

    def add(self, definition: Definition) -> None:
        table: dict[str, Any] = self.workflows if isinstance(definition, Workflow) else self.steps
        table[definition.name] = definition
        self.seen[(definition.name, definition.version)] = definition
        for listener in list(self._listeners):
            listener(definition)

    def workflow(self, name: str) -> Workflow | None:
        return self.workflows.get(name)

    def subscribe(self, listener: Callable[[Definition], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Definition], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


registry = Registry()


def _check_function(fn: Any, decorator: str, *, must_be_async: bool) -> None:
    if not callable(fn) or not hasattr(fn, "__code__"):
        raise DefinitionError(f"{decorator} decorates a function, got {fn!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise DefinitionError(f"{decorator} cannot decorate the generator {fn.__qualname__}; "
                              "return a value instead of yielding")
    if must_be_async and not inspect.iscoroutinefunction(fn):
        raise DefinitionError(
            f"{decorator} needs an `async def` function, {fn.__qualname__} is a plain def: "
            "workflows await their steps, sleeps and events. Write `async def "
            f"{fn.__name__}(...)`.")


class _StepDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...  # type: ignore[overload-overlap]
@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(*, name: str | None = ..., max_retries: int = ..., retry_delay: RetryDelay = ...,
         backoff: float = ..., max_delay: DurationLike | None = ...,
         timeout: DurationLike | None = ...,
         non_retryable: Iterable[type[BaseException]] = ...) -> _StepDecorator: ...
def step(fn: Any = None, /, *, name: str | None = None,
         max_retries: int = DEFAULT_MAX_RETRIES, retry_delay: RetryDelay = "fixed",
         backoff: float = 2.0, max_delay: DurationLike | None = None,
         timeout: DurationLike | None = None,
         non_retryable: Iterable[type[BaseException]] = ()) -> Any:
    """Declare a step: its result is recorded, and a failed attempt is retried.

    Works bare (``@pw.step``) or with options. ``async def`` steps run on the event loop;
    plain ``def`` steps run in a worker thread. Called outside a workflow, a step is just
    its function. Defaults: 3 retries, 1 s apart (``retry_delay="exponential"``: 1 s, 2 s,
    4 s, ... times ``backoff``, capped at ``max_delay``, 5 min unless given). Explicit
    delays (``retry_delay="1h"`` or a list) are capped only by an explicit ``max_delay``.
    """

    def decorate(f: Any) -> Any:
        _check_function(f, "@pw.step", must_be_async=False)
        step_name = check_name(name or f.__name__, "step")
        where = f"step {step_name!r}"
        policy = _retry_policy(max_retries, retry_delay, backoff, max_delay, non_retryable,
                               where)
        limit = None if timeout is None else parse_duration(timeout, what=f"{where} timeout")
        definition: Step[Any, Any] = Step(f, step_name, source_of(f), policy=policy,
                                          timeout=limit)
        registry.add(definition)
        return definition

    return decorate if fn is None else decorate(fn)


class _WorkflowDecorator(Protocol):
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Workflow[P, R]: ...


@overload
def workflow(fn: Callable[P, Coroutine[Any, Any, R]], /) -> Workflow[P, R]: ...
@overload
def workflow(*, name: str | None = ..., timeout: DurationLike | None = ...,
             source: str | None = ...,
             schedule: str | dict[str, Any] | None = ...) -> _WorkflowDecorator: ...
def workflow(fn: Any = None, /, *, name: str | None = None,
             timeout: DurationLike | None = None, source: str | None = None,
             schedule: str | dict[str, Any] | None = None) -> Any:
    """Declare a workflow: an ``async def`` whose steps, sleeps and waits are durable.

    Works bare (``@pw.workflow``) or with options. Re-defining a name (a re-run cell)
    replaces the definition; each distinct source is recorded with its code hash.
    ``schedule`` (a cron expression, or a dict of ``pw.schedule`` options) also declares
    its schedule, as ``@pw.schedule(...)`` does.
    """

    def decorate(f: Any) -> Any:
        _check_function(f, "@pw.workflow", must_be_async=True)
        wf_name = check_name(name or f.__name__, "workflow")
        limit = None if timeout is None else parse_duration(
            timeout, what=f"workflow {wf_name!r} timeout")
        definition: Workflow[Any, Any] = Workflow(f, wf_name, source or source_of(f),
                                                  timeout=limit, schedule=schedule)
        registry.add(definition)  # the schedules module, listening, declares its schedule
        return definition

    return decorate if fn is None else decorate(fn)


def check_name(name: Any, kind: str) -> str:
    """``name`` if it can name a ``kind`` (ids are ``name#n``, child runs ``parent/...``)."""
    if not isinstance(name, str) or not name.strip() or "#" in name or "/" in name:
        raise DefinitionError(
            f"invalid {kind} name {name!r}: use a non-empty string without '#' or '/'")
    return name


def check_call(wf: Workflow, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse arguments the workflow function cannot take, before any run exists."""
    try:
        signature = inspect.signature(wf.fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        plain = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty)
        raise InvalidInput(f"cannot start workflow {wf.name!r}: {exc}; it takes "
                           f"{wf.name}{plain}") from None
