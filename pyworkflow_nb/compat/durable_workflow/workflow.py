"""``@workflow.defn`` generator workflows, driven by this engine's deterministic core.

The generator's ``run(self, ctx, *args)`` yields commands; each is carried out with the
native primitive it names (an activity is a step, a timer a durable sleep, a side effect a
recorded value, ...) and its result is sent back into the generator. A yielded list runs its
commands concurrently and resolves to their results in order. So recovery, replay, the
timeline, SQL and the virtual clock apply to these runs as to any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import math
import random as _random
import uuid as _uuid
from collections.abc import Callable, Coroutine, Generator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ... import messages, primitives, versioning
from ... import replayer as native_replayer
from ...context import require_run
from ...definitions import ChildOptions, RetryPolicy, Workflow, source_of
from ...definitions import workflow as native_workflow
from ...errors import DefinitionError, EventTimeout, FatalError, InvalidInput
from ...errors import WorkflowFailed as NativeFailed
from ...history.vocabulary import PARENT_CLOSE_POLICIES
from . import queues
from .activity import registered, with_heartbeat

C = TypeVar("C", bound=type)

_WORKFLOWS: dict[str, type] = {}


class NonRetryableError(FatalError):
    """Raised in an activity: it fails without further attempts."""


class ActivityNotRegistered(InvalidInput):
    """A workflow scheduled an activity type no ``@activity.defn`` registered."""


class ChildWorkflowFailed(Exception):
    """A child workflow failed (after its retries); the child's error is ``__cause__``."""


# -- policies and commands ---------------------------------------------------------------------

@dataclass
class ActivityRetryPolicy:
    """Retry policy applied to one scheduled activity call."""

    max_attempts: int = 3
    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval_seconds: float | None = None
    non_retryable_error_types: list[str] = field(default_factory=list)
    backoff_seconds: list[float] | None = None


@dataclass
class ChildWorkflowRetryPolicy(ActivityRetryPolicy):
    """Retry policy applied to one started child workflow call."""


@dataclass
class ScheduleActivity:
    activity_type: str
    arguments: list[Any]
    queue: str | None = None
    retry_policy: ActivityRetryPolicy | None = None
    start_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    schedule_to_close_timeout: float | None = None
    heartbeat_timeout: float | None = None


@dataclass
class StartTimer:
    delay_seconds: float


@dataclass
class StartChildWorkflow:
    workflow_type: str
    arguments: list[Any] = field(default_factory=list)
    task_queue: str | None = None
    parent_close_policy: str | None = None
    retry_policy: ChildWorkflowRetryPolicy | None = None
    execution_timeout_seconds: float | None = None
    run_timeout_seconds: float | None = None


@dataclass
class RecordSideEffect:
    result: Any


@dataclass
class CompleteWorkflow:
    result: Any


@dataclass
class FailWorkflow:
    message: str
    exception_type: str | None = None
    non_retryable: bool = False


@dataclass
class ContinueAsNew:
    workflow_type: str | None = None
    arguments: list[Any] = field(default_factory=list)
    task_queue: str | None = None


@dataclass
class WaitCondition:
    predicate: Callable[[], Any]
    condition_key: str | None = None
    condition_definition_fingerprint: str | None = None
    timeout_seconds: float | None = None


@dataclass
class UpsertSearchAttributes:
    attributes: dict[str, Any]


@dataclass
class _SideEffect:
    fn: Callable[[], Any]


#: The running workflow's (run_timeout, execution_deadline), which continue-as-new carries on.
_budgets: ContextVar[tuple[float | None, float | None]] = ContextVar(
    "durable_workflow_budgets", default=(None, None))


def check_timeout(value: Any, what: str) -> float:
    """``value`` as a positive number of seconds; a clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInput(f"{what} takes a positive number of seconds, got {value!r}")
    return float(value)


class WorkflowFailure(Exception):
    """How ``FailWorkflow`` (or a failed run's error) ends a run: its ``exception_type``
    names the type the workflow gave."""

    def __init__(self, message: str, exception_type: str | None = None) -> None:
        super().__init__(message)
        self.exception_type = exception_type


@dataclass(frozen=True)
class _NamedRetryPolicy(RetryPolicy):
    """A retry policy that also stops at errors named by type (``ValidationError``)."""

    names: frozenset[str] = frozenset()

    def retryable(self, exc: BaseException) -> bool:
        return super().retryable(exc) and type(exc).__name__ not in self.names


def _policy(retry: ActivityRetryPolicy | None) -> RetryPolicy:
    if retry is None:  # the SDK's default: one attempt
        return RetryPolicy(max_retries=0)
    if isinstance(retry.max_attempts, bool) or not isinstance(retry.max_attempts, int) \
            or retry.max_attempts < 1:
        raise InvalidInput(f"ActivityRetryPolicy.max_attempts must be a whole number >= 1, "
                           f"got {retry.max_attempts!r}")
    if retry.backoff_seconds:
        strategy, delays = "fixed", tuple(float(s) for s in retry.backoff_seconds)
    else:
        strategy, delays = "exponential", (float(retry.initial_interval_seconds),)
    return _NamedRetryPolicy(retry.max_attempts - 1, strategy, delays,
                             float(retry.backoff_coefficient), retry.maximum_interval_seconds,
                             names=frozenset(retry.non_retryable_error_types))


# -- the context -------------------------------------------------------------------------------

class WorkflowContext:
    """Replay-safe helper surface passed to workflow ``run`` methods."""

    def __init__(self, *, run_id: str = "", current_time: datetime | None = None) -> None:
        self.run_id = run_id
        self.current_time = current_time
        self.logger: logging.Logger = logging.getLogger("durable_workflow.workflow.replay")

    def schedule_activity(self, activity_type: str, arguments: list[Any] | None = None, *,
                          queue: str | None = None,
                          retry_policy: ActivityRetryPolicy | None = None,
                          start_to_close_timeout: float | None = None,
                          schedule_to_start_timeout: float | None = None,
                          schedule_to_close_timeout: float | None = None,
                          heartbeat_timeout: float | None = None) -> ScheduleActivity:
        return ScheduleActivity(activity_type, list(arguments or []), queue, retry_policy,
                                start_to_close_timeout, schedule_to_start_timeout,
                                schedule_to_close_timeout, heartbeat_timeout)

    def start_child_workflow(self, workflow_type: str, arguments: list[Any] | None = None, *,
                             task_queue: str | None = None,
                             parent_close_policy: str | None = None,
                             retry_policy: ChildWorkflowRetryPolicy | None = None,
                             execution_timeout_seconds: float | None = None,
                             run_timeout_seconds: float | None = None) -> StartChildWorkflow:
        return StartChildWorkflow(workflow_type, list(arguments or []), task_queue,
                                  parent_close_policy, retry_policy, execution_timeout_seconds,
                                  run_timeout_seconds)

    def upsert_search_attributes(self, attributes: dict[str, Any]) -> UpsertSearchAttributes:
        """Set search attributes of this run (yield it); SQL reads them from its events."""
        if not isinstance(attributes, dict) or not all(isinstance(k, str) for k in attributes):
            raise InvalidInput(f"upsert_search_attributes takes a dict of str keys, got "
                               f"{attributes!r}")
        return UpsertSearchAttributes(dict(attributes))

    def start_timer(self, seconds: float) -> StartTimer:
        return StartTimer(seconds)

    def sleep(self, seconds: float) -> StartTimer:
        """A timer of ``seconds``, rounded up to the next whole second (as the server does)."""
        return StartTimer(math.ceil(seconds))

    def side_effect(self, fn: Callable[[], Any]) -> _SideEffect:
        return _SideEffect(fn)

    def wait_condition(self, predicate: Callable[[], Any], *, key: str | None = None,
                       timeout: float | None = None) -> WaitCondition:
        return WaitCondition(predicate, key, None,
                             None if timeout is None else math.ceil(timeout))

    def continue_as_new(self, *args: Any, workflow_type: str | None = None) -> ContinueAsNew:
        return ContinueAsNew(workflow_type, list(args))

    def now(self) -> datetime:
        return primitives.now()

    def random(self) -> _random.Random:
        """A random generator seeded once per run and replayed with the same seed."""
        seed = require_run("ctx.random()").record_value("random_seed",
                                                        lambda: _random.getrandbits(64))
        return _random.Random(seed)

    def uuid4(self) -> _uuid.UUID:
        return primitives.uuid4()

    def uuid7(self) -> _uuid.UUID:
        """A time-ordered UUID (version 7), recorded once per call and replayed."""
        run = require_run("ctx.uuid7()")

        def make() -> str:
            millis = int(run.clock_now() * 1000)
            bits = (millis << 80) | (0x7 << 76) | (_random.getrandbits(12) << 64) \
                | (0b10 << 62) | _random.getrandbits(62)
            return str(_uuid.UUID(int=bits))

        return _uuid.UUID(run.record_value("uuid7", make))

    def patched(self, change_id: str) -> bool:
        return versioning.patched(change_id)

    def deprecate_patch(self, change_id: str) -> None:
        versioning.deprecate_patch(change_id)

    def get_version(self, change_id: str, min_supported: int, max_supported: int) -> int:
        return versioning.get_version(change_id, min_supported, max_supported)


# -- running the generator ---------------------------------------------------------------------

class _Ended(Exception):
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome


async def _execute(command: Any) -> Any:
    """Carry out one yielded command with the native primitive it names."""
    if isinstance(command, list):
        return list(await asyncio.gather(*(_execute(c) for c in command)))
    if isinstance(command, ScheduleActivity):
        step = registered(command.activity_type)
        if step is None:
            raise ActivityNotRegistered(
                f"no activity of type {command.activity_type!r} is registered; decorate it "
                "with @activity.defn(name=...) (and list it in the Worker's activities)")
        call = dataclasses.replace(step, policy=_policy(command.retry_policy),
                                   timeout=command.start_to_close_timeout)
        if command.heartbeat_timeout is not None:
            call = dataclasses.replace(call, fn=with_heartbeat(step.fn,
                                                               command.heartbeat_timeout))
        queue = queues.current_queue.get() if command.queue is None else \
            queues.check_queue(command.queue, "ctx.schedule_activity(queue=...)")
        await _worker_for(queue, command)
        token = queues.current_queue.set(queue)  # the activity's info.task_queue
        try:
            if command.schedule_to_close_timeout is None:
                return await call(*command.arguments)
            return await asyncio.wait_for(call(*command.arguments),
                                          command.schedule_to_close_timeout)
        finally:
            queues.current_queue.reset(token)
    if isinstance(command, StartChildWorkflow):
        return await _child(command)
    if isinstance(command, StartTimer):
        await primitives.sleep(command.delay_seconds)
        return None
    if isinstance(command, _SideEffect):
        return await primitives.side_effect(command.fn)
    if isinstance(command, RecordSideEffect):
        return command.result
    if isinstance(command, WaitCondition):
        return await messages.wait_condition(command.predicate,
                                             timeout=command.timeout_seconds)
    if isinstance(command, UpsertSearchAttributes):
        require_run("upsert_search_attributes").record_value("search_attributes",
                                                             lambda: command.attributes)
        return None
    if isinstance(command, (CompleteWorkflow, FailWorkflow, ContinueAsNew)):
        raise _Ended(command)
    if command is None or isinstance(command, (bool, int)):
        return command  # ``yield ctx.patched(...)`` / ``get_version``: the value itself
    raise InvalidInput(
        f"the workflow yielded {command!r}, which is not a command: yield what the context "
        "builds (ctx.schedule_activity, ctx.start_timer, ctx.start_child_workflow, "
        "ctx.side_effect, ctx.wait_condition, ...) or a list of them")


async def _worker_for(queue: str, command: ScheduleActivity) -> None:
    """Wait until a worker serves the activity's queue, within its schedule_to_start_timeout."""
    timeout = command.schedule_to_start_timeout
    try:
        await queues.await_worker(queue, timeout=timeout)
    except EventTimeout:
        assert timeout is not None
        raise queues.timed_out(queue, timeout, f"activity {command.activity_type!r}") from None


async def _child(command: StartChildWorkflow) -> Any:
    cls = _WORKFLOWS.get(command.workflow_type)
    if cls is None:
        raise InvalidInput(f"no workflow of type {command.workflow_type!r} is registered; "
                           "decorate its class with @workflow.defn(name=...)")
    policy = command.parent_close_policy or "terminate"
    if policy not in PARENT_CLOSE_POLICIES:
        raise InvalidInput(f"parent_close_policy must be one of "
                           f"{', '.join(PARENT_CLOSE_POLICIES)}, got {policy!r}")
    options = ChildOptions(policy, None if command.retry_policy is None
                           else _policy(command.retry_policy), command.execution_timeout_seconds)
    queue = queues.current_queue.get() if command.task_queue is None else \
        queues.check_queue(command.task_queue, "ctx.start_child_workflow(task_queue=...)")
    kwargs: dict[str, Any] = {"task_queue": queue}
    if command.run_timeout_seconds is not None:
        kwargs["run_timeout"] = check_timeout(command.run_timeout_seconds,
                                              "ctx.start_child_workflow(run_timeout_seconds=...)")
    _, result = require_run("ctx.start_child_workflow()").call_child(
        cls.__pw_workflow__, tuple(command.arguments),  # type: ignore[attr-defined]
        kwargs, options)
    try:
        return await result
    except NativeFailed as exc:
        raise ChildWorkflowFailed(str(exc)) from exc.__cause__ or exc
    except Exception as exc:  # the child's own error, or its timeout
        raise ChildWorkflowFailed(f"child workflow {command.workflow_type!r} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc


async def _drive(run: Generator[Any, Any, Any]) -> Any:
    sent: Any = None
    error: BaseException | None = None
    while True:
        try:
            command = run.throw(error) if error is not None else run.send(sent)
        except StopIteration as stop:
            return _finish(stop.value)
        try:
            sent, error = await _execute(command), None
        except _Ended as ended:
            run.close()
            return _finish(ended.outcome)
        except Exception as exc:  # handed to the generator, which may catch it
            sent, error = None, exc


def _finish(outcome: Any) -> Any:
    if isinstance(outcome, CompleteWorkflow):
        return outcome.result
    if isinstance(outcome, FailWorkflow):
        raise WorkflowFailure(outcome.message, outcome.exception_type)
    if isinstance(outcome, ContinueAsNew):
        cls = _WORKFLOWS.get(outcome.workflow_type) if outcome.workflow_type else None
        if outcome.workflow_type and cls is None:
            raise InvalidInput(f"ContinueAsNew names workflow type {outcome.workflow_type!r}, "
                               "which no @workflow.defn registered")
        target: Workflow[..., Any] | None = getattr(cls, "__pw_workflow__", None)
        queue = queues.current_queue.get() if outcome.task_queue is None else \
            queues.check_queue(outcome.task_queue, "ContinueAsNew(task_queue=...)")
        run_timeout, execution_deadline = _budgets.get()
        primitives.continue_as_new(*outcome.arguments, workflow=target, task_queue=queue,
                                   run_timeout=run_timeout,
                                   execution_deadline=execution_deadline)
    return outcome


# -- definitions -------------------------------------------------------------------------------

def _receiver(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, f"__dw_{kind}__", name)
        if kind == "update":
            def validator(check: Callable[..., Any]) -> Callable[..., Any]:
                check.__dw_validates__ = name  # type: ignore[attr-defined]
                return check
            fn.validator = validator  # type: ignore[attr-defined]
        return fn
    return mark


def signal(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the handler of the signal ``name``."""
    return _receiver("signal", name)


def query(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the read-only handler of the query ``name``."""
    return _receiver("query", name)


def update(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the handler of the update ``name`` (``.validator`` marks its check)."""
    return _receiver("update", name)


def update_validator(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the validator of the update ``name``."""
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__dw_validates__ = name  # type: ignore[attr-defined]
        return fn
    return mark


def _handlers(instance: Any) -> None:
    """Register the instance's marked methods as the run's signal/query/update handlers."""
    validators = {}
    methods = [getattr(instance, n) for n, v in inspect.getmembers(type(instance))
               if callable(v)]
    for method in methods:
        validates = getattr(method, "__dw_validates__", None)
        if validates is not None:
            validators[validates] = method
    for method in methods:
        if (name := getattr(method, "__dw_signal__", None)) is not None:
            messages.set_signal_handler(name, method)
        if (name := getattr(method, "__dw_query__", None)) is not None:
            messages.set_query_handler(name, method)
        if (name := getattr(method, "__dw_update__", None)) is not None:
            messages.set_update_handler(name, method, validators.get(name))


def defn(cls: C | None = None, *, name: str | None = None) -> Any:
    """Register a class whose ``run(self, ctx, *args)`` is a generator as workflow ``name``."""

    def decorate(c: C) -> C:
        run = getattr(c, "run", None)
        if run is None or not inspect.isgeneratorfunction(run):
            raise DefinitionError(f"@workflow.defn: {c.__name__}.run must be a generator "
                                  "method, def run(self, ctx, *args) with yield")
        type_name = name or c.__name__

        async def body(*args: Any, task_queue: str = "default",
                       run_timeout: float | None = None,
                       execution_deadline: float | None = None) -> Any:
            run = require_run("a durable_workflow workflow")
            info = run.info()
            started = info.started_at or 0.0
            budgets = [(started + run_timeout, f"{run_timeout:g} s (its run_timeout_seconds)")
                       if run_timeout is not None else None,
                       (execution_deadline, "its execution_timeout_seconds")
                       if execution_deadline is not None else None]
            deadline = min((b for b in budgets if b is not None), default=None)
            work = _run_body(c, info.run_id, args, task_queue, run_timeout, execution_deadline)
            if deadline is None:
                return await work
            return await _within(run, deadline, work)

        source = "\n".join(source_of(f) for f in vars(c).values() if inspect.isfunction(f))
        c.__pw_workflow__ = native_workflow(name=type_name, source=source)(  # type: ignore
            body)
        _WORKFLOWS[type_name] = c
        return c

    return decorate if cls is None else decorate(cls)


async def _run_body(cls: type, run_id: str, args: tuple[Any, ...], task_queue: str,
                    run_timeout: float | None, execution_deadline: float | None) -> Any:
    await queues.await_worker(task_queue)
    queues.current_queue.set(task_queue)
    _budgets.set((run_timeout, execution_deadline))
    instance = cls()
    _handlers(instance)
    return await _drive(instance.run(WorkflowContext(run_id=run_id), *args))


async def _within(run: Any, deadline: tuple[float, str], work: Coroutine[Any, Any, Any]
                  ) -> Any:
    """``work``, failed as a timed-out workflow once the clock reaches the deadline (a
    durable timer named "run timeout", cancelled when the work ends first)."""
    at, budget = deadline
    body = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(run.sleep_until(at, "run timeout"))
    try:
        await asyncio.wait({body, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not body.done() and not timer.done():  # the run itself was cancelled
            body.cancel()
            timer.cancel()
    if body.done():
        timer.cancel()
        return body.result()
    body.cancel()
    with contextlib.suppress(BaseException):
        await body
    raise WorkflowFailure(f"the workflow run timed out: it did not end within {budget}",
                          "WorkflowTimeout")


class Replayer:
    """Replays recorded runs against workflow classes, offline: no store write, no activity
    run. A history is a run id, a ``.json`` file from ``handle.export_history``, a list of
    event dicts or a dict with an ``events`` key."""

    def __init__(self, *, workflows: list[type]) -> None:
        self._replayer = native_replayer.Replayer(workflows)

    def replay(self, history: Any) -> native_replayer.ReplayVerdict:
        """The verdict: truthy when the code fits; ``detail`` and ``error`` say where not."""
        if isinstance(history, dict) and "events" in history:
            history = history["events"]
        return self._replayer.replay(history)


def registry() -> dict[str, type]:
    """A copy of the workflow types registered in this process."""
    return dict(_WORKFLOWS)


__all__ = [
    "ActivityNotRegistered",
    "ActivityRetryPolicy",
    "ChildWorkflowFailed",
    "ChildWorkflowRetryPolicy",
    "CompleteWorkflow",
    "ContinueAsNew",
    "FailWorkflow",
    "NonRetryableError",
    "RecordSideEffect",
    "Replayer",
    "ScheduleActivity",
    "StartChildWorkflow",
    "StartTimer",
    "UpsertSearchAttributes",
    "WaitCondition",
    "WorkflowContext",
    "WorkflowFailure",
    "defn",
    "query",
    "registry",
    "signal",
    "update",
    "update_validator",
]
