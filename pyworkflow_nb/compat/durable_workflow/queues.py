"""Task queues: a workflow or activity on a queue no ``Worker`` serves waits, visibly, for one.

A ``Worker`` serves its queue in this process from its creation until ``stop()``. A workflow
run (first thing in its body) and each activity call record whether their queue was served;
if not, they wait for the event ``task queue <name>``, which shows in the runs table
("waiting"), the timeline and the ``waits`` view. A worker that starts serving the queue
sends that event to every call waiting for it. Both sides run on the engine's loop, so no
wake-up is lost between a call finding the queue unserved and starting its wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import Counter, defaultdict
from typing import Any

from ...context import require_run
from ...engine import Engine
from ...errors import InvalidInput
from ...runtime import runtime

_served: Counter[str] = Counter()
#: Run ids whose call found its queue unserved and has not got its worker yet (once per call).
_waiting: defaultdict[str, list[str]] = defaultdict(list)
_wakes: set[asyncio.Task[None]] = set()
#: The task queue of the workflow run (or activity) running in this context.
current_queue: contextvars.ContextVar[str] = contextvars.ContextVar(
    "durable_workflow_task_queue", default="default")


def check_queue(queue: Any, what: str) -> str:
    """``queue`` if it is a task queue name; a clear error otherwise."""
    if not isinstance(queue, str) or not queue.strip():
        raise InvalidInput(f"{what} needs a task queue name (a non-empty string), got "
                           f"{queue!r}")
    return queue


def event_name(queue: str) -> str:
    """The event that tells a waiting call a worker now serves ``queue``."""
    return f"task queue {queue}"


def served(queue: str) -> bool:
    return _served[queue] > 0


async def await_worker(queue: str, *, timeout: float | None = None) -> None:
    """Inside a run: return once a worker serves ``queue`` (at once if one does).

    Raises ``EventTimeout`` when none does within ``timeout`` seconds.
    """
    run = require_run("a durable_workflow task queue")
    if run.record_value("task_queue", lambda: {"queue": queue, "served": served(queue)}
                        )["served"]:
        return
    run_id = run.info().run_id
    _waiting[queue].append(run_id)
    try:
        await run.wait_for_event(event_name(queue), timeout, label=f"worker for {queue}")
    finally:
        with contextlib.suppress(ValueError):  # a worker took it off already
            _waiting[queue].remove(run_id)


def serve(queue: str, worker_id: str) -> None:
    """A worker serves ``queue`` from now on; the calls waiting for one get it."""
    engine = runtime.ensure()
    engine.on_loop(lambda: _serve(engine, queue, worker_id))


def _serve(engine: Engine, queue: str, worker_id: str) -> None:
    _served[queue] += 1
    woken = _waiting.pop(queue, [])
    for run_id in woken:
        task = engine.loop.create_task(_wake(engine, run_id, queue, worker_id))
        _wakes.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(_wakes.discard)


async def _wake(engine: Engine, run_id: str, queue: str, worker_id: str) -> None:
    with contextlib.suppress(InvalidInput):  # the run ended meanwhile (cancelled, terminated)
        await engine.send_event(run_id, event_name(queue), {"worker_id": worker_id})


def unserve(queue: str) -> None:
    """A worker of ``queue`` stopped; new calls on it wait unless another one serves it."""
    engine = runtime.ensure()

    def drop() -> None:
        _served[queue] -= 1
        if _served[queue] <= 0:
            del _served[queue]

    engine.on_loop(drop)


def timed_out(queue: str, timeout: float, what: str) -> TimeoutError:
    """The error of a call whose ``schedule_to_start_timeout`` passed with no worker."""
    return TimeoutError(f"{what} waited {timeout:g} s for a worker on task queue {queue!r} "
                        "(its schedule_to_start_timeout); start a Worker(client, "
                        f"task_queue={queue!r}, ...) before the timeout")


__all__ = ["await_worker", "check_queue", "current_queue", "event_name",
           "serve", "served", "timed_out", "unserve"]
