"""``@activity.defn``: activities are this engine's steps, scheduled by their type name."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from ...context import current_step, step_attempt
from ...definitions import Step, check_name, source_of
from ...errors import DefinitionError, InvalidInput
from .queues import current_queue

F = TypeVar("F", bound=Callable[..., Any])

_ACTIVITIES: dict[str, Step[..., Any]] = {}


@dataclass(frozen=True)
class ActivityInfo:
    """Who the running activity is: ``activity.context().info``."""

    activity_type: str
    activity_id: str
    attempt_number: int
    task_queue: str = "default"


class ActivityContext:
    """``activity.context()``: the attempt's metadata and its heartbeat."""

    def __init__(self, info: ActivityInfo) -> None:
        self.info = info
        self.is_cancelled = False
        self.last_heartbeat: Any = None
        self._beat = asyncio.Event()

    async def heartbeat(self, details: Any = None) -> None:
        """Say the activity is alive (within its ``heartbeat_timeout``), with progress."""
        self.last_heartbeat = details
        self._beat.set()


_current: ContextVar[ActivityContext | None] = ContextVar("durable_workflow_activity",
                                                          default=None)


def defn(fn: Any = None, *, name: str | None = None) -> Any:
    """Register an activity under its type ``name`` (default: the function's name)."""

    def decorate(f: F) -> F:
        if not callable(f) or not hasattr(f, "__code__"):
            raise DefinitionError(f"@activity.defn decorates a function, got {f!r}")
        type_name = check_name(name or f.__name__, "activity")
        _ACTIVITIES[type_name] = Step(f, type_name, source_of(f))
        return f

    return decorate if fn is None else decorate(fn)


def registered(type_name: str) -> Step[..., Any] | None:
    return _ACTIVITIES.get(type_name)


def context() -> ActivityContext:
    """The running activity's context (only inside an activity)."""
    known = _current.get()
    if known is not None:
        return known
    step_id = current_step.get()
    if step_id is None:
        raise RuntimeError("activity.context() is only available inside a running activity")
    return ActivityContext(ActivityInfo(step_id.rpartition("#")[0], step_id,
                                        step_attempt.get(), current_queue.get()))


def with_heartbeat(fn: Callable[..., Any], timeout: float) -> Callable[..., Any]:
    """``fn`` (an async activity) failing with ``TimeoutError`` when no heartbeat arrives
    within ``timeout`` seconds; a failed attempt is retried by the activity's policy."""
    if not inspect.iscoroutinefunction(fn):
        raise InvalidInput(f"heartbeat_timeout needs an async activity (it heartbeats with "
                           f"await activity.context().heartbeat()); {fn.__name__} is a def")

    async def watched(*args: Any, **kwargs: Any) -> Any:
        ctx = context()
        token = _current.set(ctx)  # the attempt's one context, which its heartbeats reach
        work = asyncio.ensure_future(fn(*args, **kwargs))
        try:
            while True:
                beat = asyncio.ensure_future(ctx._beat.wait())
                done, _ = await asyncio.wait({work, beat}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                beat.cancel()
                if work in done:
                    return work.result()
                if beat not in done:
                    raise TimeoutError(f"activity {ctx.info.activity_id} sent no heartbeat "
                                       f"for {timeout:g} s (its heartbeat_timeout)")
                ctx._beat.clear()
        finally:
            _current.reset(token)
            if not work.done():
                ctx.is_cancelled = True
                work.cancel()

    return watched


__all__ = ["ActivityContext", "ActivityInfo", "context", "defn"]
