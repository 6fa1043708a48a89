"""The event vocabulary: every event type, the payload it carries, and the statuses.

Every event row is ``(run_id, seq, ts, type, step, attempt, data)`` where ``type`` is one of
the dotted names below and ``data`` is a JSON object built here. The engine writes events
only through the builders of this module and reads them back with :func:`parse`; the store's
views, the timeline and the widgets' front-end (through ``extension/vocabulary.json``, which
``python -m pyworkflow_nb.history`` writes from :func:`as_json`) use the same names.

Values the workflow saw (results, payloads, inputs) arrive as JSON text from
:func:`pyworkflow_nb.serde.encode`; the builders embed that text as it is, so a value is
encoded once.
"""

from __future__ import annotations

import json
from typing import Any

from ..serde import PICKLE_KEY, decode

# -- event types -------------------------------------------------------------------------------

WORKFLOW_STARTED = "workflow.started"
WORKFLOW_COMPLETED = "workflow.completed"
WORKFLOW_FAILED = "workflow.failed"
WORKFLOW_CANCELLED = "workflow.cancelled"
WORKFLOW_CANCEL_REQUESTED = "workflow.cancel_requested"
WORKFLOW_TERMINATED = "workflow.terminated"
WORKFLOW_CONTINUED = "workflow.continued"
WORKFLOW_PAUSED = "workflow.paused"
WORKFLOW_RESUMED = "workflow.resumed"
WORKFLOW_RETRIED = "workflow.retried"
WORKFLOW_FORKED = "workflow.forked"
WORKFLOW_RESTARTED = "workflow.restarted"
EVENT_RECEIVED = "event.received"
SIGNAL_RECEIVED = "signal.received"
UPDATE_ACCEPTED = "update.accepted"
UPDATE_REJECTED = "update.rejected"
UPDATE_COMPLETED = "update.completed"
UPDATE_FAILED = "update.failed"
STEP_STARTED = "step.started"
STEP_COMPLETED = "step.completed"
STEP_FAILED = "step.failed"
STEP_CANCELLED = "step.cancelled"
TIMER_STARTED = "timer.started"
TIMER_FIRED = "timer.fired"
TIMER_CANCELLED = "timer.cancelled"
WAIT_STARTED = "wait.started"
WAIT_COMPLETED = "wait.completed"
WAIT_TIMED_OUT = "wait.timed_out"
VALUE_RECORDED = "value.recorded"
PATCH_RECORDED = "patch.recorded"
CHILD_STARTED = "child.started"
CHILD_COMPLETED = "child.completed"
CHILD_FAILED = "child.failed"
SCHEDULE_CREATED = "schedule.created"
SCHEDULE_UPDATED = "schedule.updated"
SCHEDULE_PAUSED = "schedule.paused"
SCHEDULE_RESUMED = "schedule.resumed"
SCHEDULE_FIRED = "schedule.fired"
SCHEDULE_SKIPPED = "schedule.skipped"
SCHEDULE_BUFFERED = "schedule.buffered"
SCHEDULE_FIRE_FAILED = "schedule.fire_failed"
SCHEDULE_BACKFILLED = "schedule.backfilled"
SCHEDULE_DELETED = "schedule.deleted"

EVENT_TYPES: dict[str, str] = {
    WORKFLOW_STARTED: "workflow, version, parent_run_id, schedule_id, input {args, kwargs}",
    WORKFLOW_COMPLETED: "result",
    WORKFLOW_FAILED: "error {type, message, traceback[, step]}",
    WORKFLOW_CANCELLED: "reason (when the cancel gave one)",
    WORKFLOW_CANCEL_REQUESTED: "reason (when given)",
    WORKFLOW_TERMINATED: "reason: the run was ended at once, its code not run further",
    WORKFLOW_CONTINUED: "run_id, workflow: the run ended by continuing as that new run "
                        "(pw.continue_as_new)",
    WORKFLOW_PAUSED: "(empty): no new step starts until the resume",
    WORKFLOW_RESUMED: "(empty): what arrived while paused is handed over now",
    WORKFLOW_RETRIED: "(empty): the failed run runs again from its first failure",
    WORKFLOW_FORKED: "run_id, step: the events before it were copied from that run, up to "
                     "that step, which this run executes anew (handle.fork)",
    WORKFLOW_RESTARTED: "previous_run_id, attempt, reason: the run starts over from scratch "
                        "(handle.restart); its earlier history is now run previous_run_id",
    EVENT_RECEIVED: "event, payload",
    SIGNAL_RECEIVED: "signal, args: handed to the workflow's handler (pw.set_signal_handler)",
    UPDATE_ACCEPTED: "update, args: its validator let it in; the step column holds the "
                     "update id",
    UPDATE_REJECTED: "update, error: its validator refused it; the run did not see it",
    UPDATE_COMPLETED: "result: what the update's handler returned to the caller",
    UPDATE_FAILED: "error: the update's handler raised it (the run goes on)",
    STEP_STARTED: "input {args, kwargs} (values JSON cannot hold shown as {repr})",
    STEP_COMPLETED: "result",
    STEP_FAILED: "error, retry_at (epoch seconds or null), final",
    STEP_CANCELLED: "(empty)",
    TIMER_STARTED: "until (epoch seconds)",
    TIMER_FIRED: "(empty)",
    TIMER_CANCELLED: "(empty): the workflow stopped waiting (asyncio.timeout, wait_for, a cancel)",
    WAIT_STARTED: "event, timeout_at (epoch seconds or null), timeout (seconds or null)",
    WAIT_COMPLETED: "event, payload",
    WAIT_TIMED_OUT: "event",
    VALUE_RECORDED: "value (pw.now, pw.random, pw.uuid4, pw.side_effect)",
    PATCH_RECORDED: "version, deprecated: the run took this change (pw.patched, get_version); "
                    "the step column holds the change id",
    CHILD_STARTED: "run_id of the child run, parent_close (terminate, request_cancel, "
                   "abandon: what happens to it if the parent ends first), timeout_at "
                   "(epoch seconds, when start_child had a timeout); the attempt column "
                   "counts retried child runs",
    CHILD_COMPLETED: "result",
    CHILD_FAILED: "error, retry_at (epoch seconds or null), final",
    SCHEDULE_CREATED: "workflow, spec, input",
    SCHEDULE_UPDATED: "changes",
    SCHEDULE_PAUSED: "note",
    SCHEDULE_RESUMED: "note",
    SCHEDULE_FIRED: "scheduled_at, jitter, run_id",
    SCHEDULE_SKIPPED: "reason, scheduled_at",
    SCHEDULE_BUFFERED: "scheduled_at",
    SCHEDULE_FIRE_FAILED: "run_id, error",
    SCHEDULE_BACKFILLED: "start, end, count",
    SCHEDULE_DELETED: "(empty)",
}
"""Every event type, with the fields of its ``data``."""

COMMAND_FAMILIES = ("step", "timer", "wait", "value", "child")
"""Event families that belong to one command of a run; the event's ``step`` column is its id."""

PARENT_CLOSE_POLICIES = ("terminate", "request_cancel", "abandon")
"""What happens to a child run still going when its parent ends (``child.started``'s
``parent_close``): terminated, asked to cancel, or left running."""

DEFAULT_VERSION = -1
"""The version ``get_version`` gives a run that passed a change before the change existed."""

# -- statuses ----------------------------------------------------------------------------------

PENDING = "pending"
RUNNING = "running"
SLEEPING = "sleeping"
WAITING = "waiting"
WAITING_FOR_DEFINITION = "waiting_for_definition"
PAUSED = "paused"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINATED = "terminated"
CONTINUED = "continued"

RUN_STATUSES = (PENDING, RUNNING, SLEEPING, WAITING, WAITING_FOR_DEFINITION, PAUSED,
                COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED)
"""Values of ``runs.status``."""

TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED})
"""Run statuses a run never leaves (but through ``retry``)."""

FINAL_EVENTS = {COMPLETED: WORKFLOW_COMPLETED, FAILED: WORKFLOW_FAILED,
                CANCELLED: WORKFLOW_CANCELLED, TERMINATED: WORKFLOW_TERMINATED,
                CONTINUED: WORKFLOW_CONTINUED}
"""The event that ends a run with each terminal status."""

RETRYING = "retrying"
STEP_STATUSES = (RUNNING, RETRYING, COMPLETED, FAILED, CANCELLED)
"""Values of ``steps.status``."""

TIMER_STATUSES = ("pending", "fired", "cancelled")
WAIT_STATUSES = ("waiting", "received", "timed_out")
SCHEDULE_STATUSES = ("active", "paused")

# -- payload builders --------------------------------------------------------------------------

EMPTY = "{}"
"""The data of an event that carries nothing."""

_KEY_TEXT: dict[str, str] = {}


def _object(**fields: str) -> str:
    """A JSON object whose values are JSON text already (from ``serde.encode`` or json)."""
    parts = []
    for key, text in fields.items():
        quoted = _KEY_TEXT.get(key)
        if quoted is None:
            quoted = _KEY_TEXT[key] = json.dumps(key)
        parts.append(f"{quoted}:{text}")
    return "{" + ",".join(parts) + "}"


# encoders made once: json.dumps with options builds a new encoder on every call
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_STEP_INPUT = json.JSONEncoder(ensure_ascii=False, default=lambda o: {"repr": repr(o)[:200]})


def _json(value: Any) -> str:
    return _COMPACT.encode(value)


def workflow_started(workflow: str, version: str | None, parent_run_id: str | None,
                     schedule_id: str | None, input_json: str) -> str:
    return _object(workflow=_json(workflow), version=_json(version),
                   parent_run_id=_json(parent_run_id), schedule_id=_json(schedule_id),
                   input=input_json)


def result(result_json: str) -> str:
    """Data of ``workflow.completed``, ``step.completed`` and ``child.completed``."""
    return _object(result=result_json)


def workflow_failed(error: dict[str, Any]) -> str:
    return _object(error=_json(error))


def workflow_continued(next_run_id: str, workflow: str) -> str:
    return _json({"run_id": next_run_id, "workflow": workflow})


def workflow_forked(source_run_id: str, step: str) -> str:
    return _json({"run_id": source_run_id, "step": step})


def workflow_restarted(previous_run_id: str, attempt: int, reason: str | None) -> str:
    return _json({"previous_run_id": previous_run_id, "attempt": attempt, "reason": reason})


def with_reason(reason: str | None) -> str:
    """Data of a cancel or terminate: the reason given, if any."""
    return EMPTY if reason is None else _json({"reason": reason})


def event_received(name: str, payload_json: str) -> str:
    """Data of ``event.received`` and ``wait.completed``."""
    return _object(event=_json(name), payload=payload_json)


wait_completed = event_received


def signal_received(name: str, args_json: str) -> str:
    return _object(signal=_json(name), args=args_json)


def update_accepted(name: str, args_json: str) -> str:
    return _object(update=_json(name), args=args_json)


def update_rejected(name: str, error: dict[str, Any]) -> str:
    return _json({"update": name, "error": error})


def update_failed(error: dict[str, Any]) -> str:
    return _json({"error": error})


def step_started(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The step's arguments for display: what JSON cannot hold is shown by its repr."""
    return _STEP_INPUT.encode({"input": {"args": args, "kwargs": kwargs}})


def step_failed(error: dict[str, Any], retry_at: float | None, final: bool) -> str:
    return _json({"error": error, "retry_at": retry_at, "final": final})


def timer_started(until: float) -> str:
    return _json({"until": until})


def wait_started(name: str, timeout_at: float | None, timeout: float | None = None) -> str:
    return _json({"event": name, "timeout_at": timeout_at, "timeout": timeout})


def wait_timed_out(name: str) -> str:
    return _json({"event": name})


def value_recorded(value_json: str) -> str:
    return _object(value=value_json)


def patch_recorded(version: int, deprecated: bool) -> str:
    return _json({"version": version, "deprecated": deprecated})


def child_started(child_run_id: str, parent_close: str, timeout_at: float | None = None) -> str:
    fields: dict[str, Any] = {"run_id": child_run_id, "parent_close": parent_close}
    if timeout_at is not None:
        fields["timeout_at"] = timeout_at
    return _json(fields)


def child_failed(error: dict[str, Any], retry_at: float | None = None) -> str:
    return _json({"error": error, "retry_at": retry_at, "final": retry_at is None})


def schedule_event(fields: dict[str, Any]) -> str:
    """Data of a ``schedule.*`` event: plain JSON fields."""
    return _json(fields)


# -- parsers -----------------------------------------------------------------------------------

def parse(data: str | None) -> dict[str, Any]:
    """An event's ``data`` as a dict (``{}`` for none)."""
    if not data:
        return {}
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {}


def recorded_value(data: dict[str, Any]) -> Any:
    """The value a final event recorded: a result, a recorded value or an event's payload."""
    for key in ("result", "value", "payload"):
        if key in data:
            return _decoded(data[key])
    return None


def _decoded(obj: Any) -> Any:
    """A value from parsed JSON: only pickled envelopes still need decoding."""
    if type(obj) is dict and PICKLE_KEY in obj:
        return decode(json.dumps(obj))
    return obj


def is_final_failure(type_: str, data: dict[str, Any]) -> bool:
    """Whether the event ends its command with a failure no retry will follow."""
    if type_ == CHILD_FAILED:  # histories from before child retries carry final: true
        return data.get("final", True) is not False
    return type_ == STEP_FAILED and bool(data.get("final"))


# -- for other languages -----------------------------------------------------------------------

def as_json() -> str:
    """The vocabulary as JSON, for ``extension/vocabulary.json``."""
    return json.dumps({
        "generated_by": "python -m pyworkflow_nb.history",
        "event_types": sorted(EVENT_TYPES),
        "run_statuses": list(RUN_STATUSES),
        "terminal_statuses": sorted(TERMINAL_STATUSES),
        "step_statuses": list(STEP_STATUSES),
        "timer_statuses": list(TIMER_STATUSES),
        "wait_statuses": list(WAIT_STATUSES),
    }, indent=2) + "\n"

