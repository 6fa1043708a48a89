"""Starting runs and reading them back in pyworkflow-engine's shapes: ``start``,
``get_workflow_run`` (a ``WorkflowRun`` with a ``RunStatus``) and ``get_workflow_events``
(``Event`` objects with an ``EventType``), read from this engine's store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, NoReturn

from ... import client as native
from ... import primitives
from ...errors import PyWorkflowError, RunNotFound
from ...history import vocabulary as ev
from ...runtime import runtime
from ...serde import decode
from ...store import EventRow, RunRow
from .definitions import native_of
from .errors import WorkflowNotFoundError


class RunStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    CONTINUED_AS_NEW = "continued_as_new"


#: This engine's run statuses as pyworkflow's: sleeping, waiting and paused runs are suspended.
_STATUS = {ev.PENDING: RunStatus.PENDING, ev.RUNNING: RunStatus.RUNNING,
           ev.SLEEPING: RunStatus.SUSPENDED, ev.WAITING: RunStatus.SUSPENDED,
           ev.PAUSED: RunStatus.SUSPENDED, ev.WAITING_FOR_DEFINITION: RunStatus.SUSPENDED,
           ev.COMPLETED: RunStatus.COMPLETED, ev.FAILED: RunStatus.FAILED,
           ev.CANCELLED: RunStatus.CANCELLED, ev.TERMINATED: RunStatus.CANCELLED,
           ev.CONTINUED: RunStatus.CONTINUED_AS_NEW}


class EventType(Enum):
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_CANCELLED = "workflow_cancelled"
    WORKFLOW_CONTINUED_AS_NEW = "workflow_continued_as_new"
    CANCELLATION_REQUESTED = "cancellation_requested"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRYING = "step_retrying"
    STEP_CANCELLED = "step_cancelled"
    SLEEP_STARTED = "sleep_started"
    SLEEP_COMPLETED = "sleep_completed"
    HOOK_CREATED = "hook_created"
    HOOK_RECEIVED = "hook_received"
    HOOK_EXPIRED = "hook_expired"
    CHILD_WORKFLOW_STARTED = "child_workflow_started"
    CHILD_WORKFLOW_COMPLETED = "child_workflow_completed"
    CHILD_WORKFLOW_FAILED = "child_workflow_failed"


#: This engine's event types as pyworkflow's; the rest (recorded values, patches, signals,
#: updates, pauses) have no pyworkflow type and stay in SQL only.
_EVENT = {ev.WORKFLOW_STARTED: EventType.WORKFLOW_STARTED,
          ev.WORKFLOW_COMPLETED: EventType.WORKFLOW_COMPLETED,
          ev.WORKFLOW_FAILED: EventType.WORKFLOW_FAILED,
          ev.WORKFLOW_CANCELLED: EventType.WORKFLOW_CANCELLED,
          ev.WORKFLOW_TERMINATED: EventType.WORKFLOW_CANCELLED,
          ev.WORKFLOW_CONTINUED: EventType.WORKFLOW_CONTINUED_AS_NEW,
          ev.WORKFLOW_CANCEL_REQUESTED: EventType.CANCELLATION_REQUESTED,
          ev.STEP_STARTED: EventType.STEP_STARTED, ev.STEP_COMPLETED: EventType.STEP_COMPLETED,
          ev.STEP_FAILED: EventType.STEP_FAILED, ev.STEP_CANCELLED: EventType.STEP_CANCELLED,
          ev.TIMER_STARTED: EventType.SLEEP_STARTED, ev.TIMER_FIRED: EventType.SLEEP_COMPLETED,
          ev.WAIT_STARTED: EventType.HOOK_CREATED, ev.WAIT_COMPLETED: EventType.HOOK_RECEIVED,
          ev.WAIT_TIMED_OUT: EventType.HOOK_EXPIRED,
          ev.CHILD_STARTED: EventType.CHILD_WORKFLOW_STARTED,
          ev.CHILD_COMPLETED: EventType.CHILD_WORKFLOW_COMPLETED,
          ev.CHILD_FAILED: EventType.CHILD_WORKFLOW_FAILED}


_FINAL = frozenset(ev.FINAL_EVENTS.values())


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


def _json(value: Any) -> str:
    return json.dumps(value, default=repr)


@dataclass
class WorkflowRun:
    """A run as pyworkflow describes it; ``result`` is its JSON text, ``error`` its message."""

    run_id: str
    workflow_name: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_args: str = "[]"
    input_kwargs: str = "{}"
    result: str | None = None
    error: str | None = None
    idempotency_key: str | None = None
    max_duration: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    recovery_attempts: int = 0
    parent_run_id: str | None = None
    nesting_depth: int = 0

    @classmethod
    def from_row(cls, row: RunRow) -> WorkflowRun:
        given = decode(row.input) if row.input else {}
        given = given if isinstance(given, dict) else {}
        error = json.loads(row.error) if row.error else None
        return cls(
            run_id=row.run_id, workflow_name=row.workflow, status=_STATUS.get(
                row.status, RunStatus.RUNNING),
            created_at=_utc(row.created_at) or datetime.now(timezone.utc),
            updated_at=_utc(row.updated_at or row.created_at) or datetime.now(timezone.utc),
            started_at=_utc(row.started_at or row.created_at),
            completed_at=_utc(row.finished_at),
            input_args=_json(given.get("args", [])),
            input_kwargs=_json(given.get("kwargs", {})),
            result=_json(decode(row.result)) if row.status == ev.COMPLETED else None,
            error=error.get("message") if isinstance(error, dict) else None,
            idempotency_key=row.idempotency_key, parent_run_id=row.parent_run_id,
            nesting_depth=0 if row.parent_run_id is None else 1)


@dataclass
class Event:
    """One event of a run's log: ``sequence``, ``type``, ``timestamp`` and ``data``."""

    event_id: str
    run_id: str
    type: EventType
    timestamp: datetime
    data: dict[str, Any]
    sequence: int


def _event(raw: dict[str, Any]) -> Event | None:
    kind = _EVENT.get(raw["type"])
    if kind is None:
        return None
    data = dict(raw["data"]) if isinstance(raw["data"], dict) else {}
    step = raw.get("step")
    if raw["type"] == ev.STEP_FAILED:
        kind = EventType.STEP_FAILED if data.get("final") else EventType.STEP_RETRYING
    if step and raw["type"].startswith("step."):
        data.update(step_id=step, step_name=step.rpartition("#")[0],
                    attempt=raw.get("attempt"))
    return Event(event_id=f"{raw['run_id']}:{raw['seq']}", run_id=raw["run_id"], type=kind,
                 timestamp=_utc(raw["ts"]) or datetime.now(timezone.utc), data=data,
                 sequence=raw["seq"])


async def start(workflow: Any, *args: Any, idempotency_key: str | None = None,
                durable: bool | None = None, **kwargs: Any) -> str:
    """Start a run and return its id once it has ended or suspended (slept, waits for a
    hook), as pyworkflow's local runtime does; the same ``idempotency_key`` returns the
    same run id."""
    handle = await native.start(native_of(workflow), *args, idempotency_key=idempotency_key,
                                **kwargs)
    await _settled(handle.run_id)
    return handle.run_id


async def _settled(run_id: str) -> None:
    """Return once ``run_id`` is no longer running (ended, sleeping, waiting or paused)."""
    engine = runtime.ensure(asyncio.get_running_loop())
    here = asyncio.get_running_loop()
    done = here.create_future()

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    def on_status(row: RunRow) -> None:  # sleeping, waiting, paused
        if row.run_id == run_id and row.status not in (ev.RUNNING, ev.PENDING):
            here.call_soon_threadsafe(settle)

    def on_event(event: EventRow) -> None:  # the run's end
        if event[0] == run_id and event[3] in _FINAL:
            here.call_soon_threadsafe(settle)

    def watch() -> None:
        engine.status_listeners.append(on_status)
        engine.listeners.append(on_event)
        if engine.get_row(run_id).status not in (ev.RUNNING, ev.PENDING):
            here.call_soon_threadsafe(settle)

    def unwatch() -> None:
        engine.status_listeners.remove(on_status)
        engine.listeners.remove(on_event)

    engine.on_loop(watch)
    try:
        await done
    finally:
        engine.on_loop(unwatch)


async def resume(run_id: str) -> Any:
    """Let a suspended run go on and return once it has ended or suspended again: its
    result when it completed, else ``None``. Runs here resume by themselves when their store
    opens and their sleeps wake; this loads the store's unfinished runs if that has not
    happened yet and waits as ``start`` does."""
    engine = runtime.ensure(asyncio.get_running_loop())
    try:
        engine.get_row(run_id)
    except RunNotFound:
        raise WorkflowNotFoundError(run_id) from None
    await engine.recover()
    await _settled(run_id)
    row = engine.get_row(run_id)
    return decode(row.result) if row.status == ev.COMPLETED else None


async def get_workflow_run(run_id: str) -> WorkflowRun | None:
    """The run ``run_id`` as a ``WorkflowRun``; ``None`` when there is none."""
    try:
        row = runtime.ensure(asyncio.get_running_loop()).get_row(run_id)
    except RunNotFound:
        return None
    return WorkflowRun.from_row(row)


async def get_workflow_events(run_id: str) -> list[Event]:
    """The run's events in order, as pyworkflow's ``Event`` objects."""
    handle = native.get_run(run_id)
    return [e for e in (_event(raw) for raw in handle.events()) if e is not None]


async def get_workflow_run_by_idempotency_key(idempotency_key: str) -> WorkflowRun | None:
    """The newest run started with ``idempotency_key``; ``None`` when there is none."""
    engine = runtime.ensure(asyncio.get_running_loop())
    found = engine.store.newest_with_key(idempotency_key)
    return WorkflowRun.from_row(engine.get_row(found)) if found else None


async def get_workflow_chain(run_id: str) -> list[WorkflowRun]:
    """The runs of ``run_id``'s continue-as-new chain, first to last."""
    engine = runtime.ensure(asyncio.get_running_loop())
    try:
        chain = native.run_chain(run_id)
    except RunNotFound:
        raise WorkflowNotFoundError(run_id) from None
    return [WorkflowRun.from_row(engine.get_row(h.run_id)) for h in chain]


def continue_as_new(*args: Any, **kwargs: Any) -> NoReturn:
    """End this run and start the next of its chain with these arguments (fresh history)."""
    primitives.continue_as_new(*args, **kwargs)


async def cancel_workflow(run_id: str, reason: str | None = None, wait: bool = False,
                          timeout: float | None = None) -> bool:
    """Ask the run to cancel (its ``except CancellationError`` blocks run); ``False`` when it
    had ended already. ``wait`` returns once it has ended (``TimeoutError`` past
    ``timeout`` seconds)."""
    engine = runtime.ensure(asyncio.get_running_loop())
    try:
        row = engine.get_row(run_id)
    except RunNotFound:
        raise WorkflowNotFoundError(run_id) from None
    if row.finished:
        return False
    handle = native.RunHandle(run_id)
    await handle.cancel(reason)
    if wait:
        with contextlib.suppress(PyWorkflowError):  # ended: cancelled, or failed cleaning up
            await handle.result(timeout=timeout)
    return True


__all__ = ["Event", "EventType", "RunStatus", "WorkflowRun", "cancel_workflow",
           "continue_as_new", "get_workflow_chain", "get_workflow_events", "get_workflow_run",
           "get_workflow_run_by_idempotency_key", "resume", "start"]
