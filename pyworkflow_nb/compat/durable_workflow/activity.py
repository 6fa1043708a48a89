"""``@activity.defn``: activities are this engine's steps, scheduled by their type name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ...context import current_step, step_attempt
from ...definitions import Step, source_of
from ...errors import DefinitionError

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
    """``activity.context()``: the attempt's metadata; heartbeats are accepted and kept."""

    def __init__(self, info: ActivityInfo) -> None:
        self.info = info
        self.is_cancelled = False
        self.last_heartbeat: Any = None

    async def heartbeat(self, details: Any = None) -> None:
        self.last_heartbeat = details


def defn(fn: Any = None, *, name: str | None = None) -> Any:
    """Register an activity under its type ``name`` (default: the function's name)."""

    def decorate(f: F) -> F:
        if not callable(f) or not hasattr(f, "__code__"):
            raise DefinitionError(f"@activity.defn decorates a function, got {f!r}")
        type_name = name or f.__name__
        if not isinstance(type_name, str) or not type_name.strip() or "#" in type_name \
                or "/" in type_name:
            raise DefinitionError(f"invalid activity name {type_name!r}: use a plain string "
                                  "without '#' or '/'")
        _ACTIVITIES[type_name] = Step(f, type_name, source_of(f))
        return f

    return decorate if fn is None else decorate(fn)


def registered(type_name: str) -> Step[..., Any] | None:
    return _ACTIVITIES.get(type_name)


def context() -> ActivityContext:
    """The running activity's context (only inside an activity)."""
    step_id = current_step.get()
    if step_id is None:
        raise RuntimeError("activity.context() is only available inside a running activity")
    return ActivityContext(ActivityInfo(step_id.rpartition("#")[0], step_id,
                                        step_attempt.get()))


__all__ = ["ActivityContext", "ActivityInfo", "context", "defn"]
