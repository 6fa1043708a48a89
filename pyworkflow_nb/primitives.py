"""Workflow primitives: durable sleeps and waits, recorded values, child runs, run info.

Each is one call on the current run (see :mod:`pyworkflow_nb.context`). Recorded values are
stored the first time and replayed verbatim, so replaying a run sees the same values.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
import uuid as _uuid
from collections.abc import Awaitable, Callable, Generator
from datetime import datetime, timezone
from typing import Any, NoReturn

from .context import ContinueAsNew, RunInfo, current_run, current_step, require_run
from .definitions import Workflow, check_call, child_options
from .durations import DurationLike, parse_duration, parse_instant
from .errors import InvalidInput, WorkflowContextError
from .serde import encode

_log = logging.getLogger("pyworkflow_nb.workflow")


async def sleep(duration: DurationLike | datetime) -> None:
    """Sleep durably: the deadline is recorded and survives restarts.

    Accepts a duration (``"30s"``, ``"1h30m"``, ``"2 days"``, seconds, ``timedelta``) or a
    ``datetime`` to sleep until. Outside a workflow this is a plain ``asyncio.sleep``; inside
    a step it raises :class:`~pyworkflow_nb.WorkflowContextError` (a step is retried as a
    whole, so durable timers belong in the workflow).
    """
    if isinstance(duration, datetime):
        await sleep_until(duration)
        return
    seconds = parse_duration(duration, what="sleep duration")
    if current_run.get() is None:
        await asyncio.sleep(seconds)
        return
    run = require_run("pw.sleep()")
    await run.sleep_until(run.clock_now() + seconds)


async def sleep_until(when: datetime | str | float) -> None:
    """Sleep durably until ``when`` (a datetime, an ISO string or epoch seconds)."""
    until = parse_instant(when, what="sleep_until time")
    if current_run.get() is None:
        await asyncio.sleep(max(0.0, until - time.time()))
        return
    await require_run("pw.sleep_until()").sleep_until(until)


async def wait_for_event(name: str, *, timeout: DurationLike | None = None) -> Any:
    """Wait for the event ``name`` sent with ``handle.send_event(name, payload)``.

    Returns the payload. An event sent before the wait started is delivered too (events of
    one name are consumed in the order they arrived). Raises
    :class:`~pyworkflow_nb.EventTimeout` after ``timeout``.
    """
    if not isinstance(name, str) or not name:
        raise WorkflowContextError(f"wait_for_event needs an event name string, got {name!r}")
    seconds = None if timeout is None else parse_duration(timeout, what="wait_for_event timeout")
    return await require_run("pw.wait_for_event()").wait_for_event(name, seconds)


def now() -> datetime:
    """The current time (UTC, aware), recorded once per call and replayed."""
    run = current_run.get()
    if run is None or current_step.get() is not None:
        return datetime.now(timezone.utc)
    epoch = run.record_value("now", run.clock_now)
    return datetime.fromtimestamp(epoch, timezone.utc)


def random() -> float:
    """A random float in [0, 1), recorded once per call and replayed."""
    run = current_run.get()
    if run is None or current_step.get() is not None:
        return _random.random()
    return run.record_value("random", _random.random)


def uuid4() -> _uuid.UUID:
    """A random UUID, recorded once per call and replayed."""
    run = current_run.get()
    if run is None or current_step.get() is not None:
        return _uuid.uuid4()
    return _uuid.UUID(run.record_value("uuid4", lambda: str(_uuid.uuid4())))


async def side_effect(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` (sync or async) once and record its value; replay returns the record."""
    run = current_run.get()
    if run is None or current_step.get() is not None:
        value = fn()
        return await value if asyncio.iscoroutine(value) else value
    return await run.side_effect(fn)


def info() -> RunInfo:
    """The current run's id, workflow, version and attempt (also inside its steps)."""
    run = current_run.get()
    if run is None:
        raise WorkflowContextError("pw.info() needs a running workflow around it")
    return run.info()


def get_logger() -> logging.Logger:
    """A logger for workflow code; it stays silent while a run replays."""
    run = current_run.get()
    return _log if run is None else run.logger()


class ChildHandle:
    """A child run started with :func:`start_child`: ``await`` it for its result."""

    def __init__(self, run_id: str, result: Awaitable[Any]) -> None:
        self.run_id = run_id
        self._result = result

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result.__await__()

    async def result(self) -> Any:
        """The child's result (raises ``WorkflowFailed`` as awaiting a workflow does)."""
        return await self._result

    def __repr__(self) -> str:
        return f"<ChildHandle {self.run_id}>"


def start_child(workflow: Workflow[..., Any], *args: Any, parent_close: str = "terminate",
                retry: int | dict[str, Any] | None = None, timeout: DurationLike | None = None,
                **kwargs: Any) -> ChildHandle:
    """Start ``workflow`` as a child run of this one and return its handle at once.

    ``parent_close`` says what happens to the child if this run ends (completes, fails, is
    cancelled or terminated) while the child still runs: ``"terminate"`` (the default),
    ``"request_cancel"`` (the child is cancelled and may clean up) or ``"abandon"`` (it goes
    on). ``retry`` starts a new child run after a failed one: a number of retries (1 s apart)
    or a dict of ``@pw.step``'s retry options (``max_retries``, ``retry_delay``, ``backoff``,
    ``max_delay``, ``non_retryable``). ``timeout`` bounds all attempts together: once it
    passes, the running child is terminated and awaiting the handle raises ``TimeoutError``.
    Awaiting a workflow directly, ``await child_wf(x)``, starts it the default way.
    """
    options = child_options(parent_close, retry, timeout)
    if not isinstance(workflow, Workflow):
        raise InvalidInput(f"start_child needs a @pw.workflow, got {workflow!r}")
    run_id, result = require_run("pw.start_child()").call_child(workflow, args, kwargs, options)
    return ChildHandle(run_id, result)


def continue_as_new(*args: Any, workflow: Workflow[..., Any] | None = None,
                    **kwargs: Any) -> NoReturn:
    """End this run and start the next run of its chain with ``args``, on a fresh history.

    The next run is of ``workflow`` (default: this run's workflow) and is started in the same
    commit as this run's end, so a crash cannot break the chain. ``handle.result()`` follows
    the chain to its last run; ``runs.continued_from`` links each run to the one before.
    """
    run = require_run("pw.continue_as_new()")
    target = workflow if workflow is not None else run.definition()
    if not isinstance(target, Workflow):
        raise InvalidInput(f"continue_as_new(workflow=...) needs a @pw.workflow, got {target!r}")
    check_call(target, args, kwargs)
    encode({"args": list(args), "kwargs": kwargs},
           where=f"the input of the next run of {target.name!r}")
    raise ContinueAsNew(target, args, kwargs)
