"""pyworkflow's hooks over this engine's waits: ``await hook(name)`` waits for the event named
by its hook id, ``resume_hook(token, payload)`` sends it. A token is ``run_id:hook_id`` with
``hook_id`` = ``hook_<name>_<n>`` (the run's n-th hook of that name); ``on_created`` runs once,
recorded, so a replay does not call it again. A ``TypedHook`` (``define_hook(name, Model)``)
validates the payload when it is resumed and hands the workflow a ``Model`` instance."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ... import client as native
from ...context import current_run, require_run
from ...durations import DurationLike, parse_duration
from ...errors import EventTimeout, RunNotFound
from ...runtime import runtime
from .definitions import checkpoint
from .errors import ContextError, WorkflowError

#: Per run (its context object, which a replay makes anew), how many hooks of each name.
_counts: weakref.WeakKeyDictionary[Any, Counter[str]] = weakref.WeakKeyDictionary()
#: The payload schemas of the hooks ``define_hook`` made, by hook name.
_schemas: dict[str, type] = {}


class HookExpiredError(WorkflowError):
    def __init__(self, hook_id: str) -> None:
        super().__init__(f"Hook expired: {hook_id}")
        self.hook_id = hook_id


class HookNotFoundError(WorkflowError):
    def __init__(self, token: str) -> None:
        super().__init__(f"Hook not found for token: {token}")
        self.token = token


class HookAlreadyReceivedError(WorkflowError):
    def __init__(self, hook_id: str) -> None:
        super().__init__(f"Hook already received: {hook_id}")
        self.hook_id = hook_id


class InvalidTokenError(WorkflowError):
    def __init__(self, hook_id: str) -> None:
        super().__init__(f"Invalid token for hook: {hook_id}")
        self.hook_id = hook_id


@dataclass(frozen=True)
class ResumeResult:
    """What ``resume_hook`` returns."""

    success: bool
    run_id: str
    hook_id: str
    error: str | None = None


def _validate(schema: type | None, payload: Any) -> Any:
    """``payload`` as ``schema`` (a pydantic model or any class taking keyword fields)."""
    if schema is None:
        return payload
    if isinstance(payload, schema):
        return payload
    check = getattr(schema, "model_validate", None)
    return check(payload) if check is not None else schema(**payload)


def _plain(payload: Any) -> Any:
    """What the store keeps of a payload: a model's fields as a dict."""
    dump = getattr(payload, "model_dump", None)
    return dump(mode="json") if callable(dump) else payload


async def hook(name: str, *, timeout: DurationLike | None = None,
               on_created: Callable[[str], Awaitable[None] | None] | None = None,
               payload_schema: type | None = None) -> Any:
    """Suspend the workflow until ``resume_hook(token, payload)``; returns the payload (as
    ``payload_schema`` when given). Past ``timeout`` it raises ``HookExpiredError``."""
    if current_run.get() is None:
        raise ContextError(f"hook({name!r}) can only be awaited in a workflow (not in a step "
                           "or outside a run)")
    run = require_run("hook()")
    counts = _counts.setdefault(run, Counter())
    counts[name] += 1
    hook_id = f"hook_{name}_{counts[name]}"
    token = f"{run.info().run_id}:{hook_id}"
    seconds = None if timeout is None else parse_duration(timeout, what="hook timeout")
    if on_created is not None:
        callback = on_created

        async def created() -> None:
            result = callback(token)
            if inspect.isawaitable(result):
                await result

        await run.side_effect(created)
    try:
        payload = await checkpoint(run.wait_for_event(hook_id, seconds, label=name))
    except EventTimeout:
        raise HookExpiredError(hook_id) from None
    return _validate(payload_schema or _schemas.get(name), payload)


class TypedHook:
    """A named hook whose payload is validated against ``schema`` (``define_hook``)."""

    def __init__(self, name: str, schema: type) -> None:
        self.name = name
        self.schema = schema
        _schemas[name] = schema

    async def __call__(self, *, timeout: DurationLike | None = None,
                       on_created: Callable[[str], Awaitable[None] | None] | None = None
                       ) -> Any:
        return await hook(self.name, timeout=timeout, on_created=on_created,
                          payload_schema=self.schema)

    def __repr__(self) -> str:
        return f"TypedHook({self.name!r}, {self.schema.__name__})"


def define_hook(name: str, schema: type) -> TypedHook:
    """A typed hook: ``await approval_hook(timeout="7d")`` returns a validated ``schema``."""
    return TypedHook(name, schema)


def _parse(token: Any) -> tuple[str, str]:
    if not isinstance(token, str) or ":" not in token:
        raise InvalidTokenError(str(token))
    run_id, _, hook_id = token.partition(":")
    if not run_id or not hook_id.startswith("hook_"):
        raise InvalidTokenError(token)
    return run_id, hook_id


async def resume_hook(token: str, payload: Any = None) -> ResumeResult:
    """Deliver ``payload`` to the hook ``token`` names; its run goes on.

    Raises ``HookNotFoundError`` (no such waiting hook), ``HookAlreadyReceivedError``,
    ``HookExpiredError``, ``InvalidTokenError``; a payload a ``TypedHook``'s schema refuses
    raises that schema's validation error and is not delivered.
    """
    run_id, hook_id = _parse(token)
    name = hook_id.removeprefix("hook_").rpartition("_")[0]
    engine = runtime.ensure(asyncio.get_running_loop())
    try:
        engine.get_row(run_id)
    except RunNotFound:
        raise HookNotFoundError(token) from None

    def waiting() -> bool:
        run = engine.runs.get(run_id)
        return run is not None and bool(run.waiters.get(hook_id))

    if not engine.on_loop(waiting):
        states = engine.store.wait_states(run_id, hook_id)
        if "received" in states:
            raise HookAlreadyReceivedError(hook_id)
        if "timed_out" in states:
            raise HookExpiredError(hook_id)
        raise HookNotFoundError(token)
    value = _validate(_schemas.get(name), payload)
    await native.get_run(run_id).send_event(hook_id, _plain(value))
    return ResumeResult(True, run_id, hook_id)


__all__ = ["HookAlreadyReceivedError", "HookExpiredError", "HookNotFoundError",
           "InvalidTokenError", "ResumeResult", "TypedHook", "define_hook", "hook",
           "resume_hook"]
