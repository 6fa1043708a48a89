"""The Celery worker's side: the ``pyworkflow_nb.step`` task runs one attempt of a step.

The step is looked up by name among the definitions the worker imported (its app module
imports the workflows' module, e.g. the one ``%wf export`` wrote) and must be the version the
run called. Whatever happens, the outcome goes back to the engine that asked (an error is an
outcome too): Celery never retries the task itself, the run does, after the delay its
history records. The task is acknowledged after it ran, so a worker that dies mid-attempt
has the broker hand the attempt to another worker.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
from typing import Any

import redis

from ..context import current_step, step_attempt
from ..definitions import registry
from ..errors import DefinitionError
from . import wire
from .hosting import host_workflows

_connections = threading.local()


def install(app: Any, store: str | None = None) -> None:
    """Register the ``pyworkflow_nb.step`` task on the Celery ``app``, so its workers run the
    step attempts engines send them (with :func:`pyworkflow_nb.celery.use`). With ``store``
    (a ``postgresql://`` URL), each worker process also runs workflows from that store: the
    runs started with ``executor="workers"``, and those of processes that died."""
    wire.redis_url(str(app.conf.broker_url))  # a broker we cannot answer through fails here
    if store is not None:
        host_workflows(app, store)

    @app.task(name=wire.STEP_TASK, shared=False, acks_late=True, reject_on_worker_lost=True,
              ignore_result=True, max_retries=0)
    def step(request: dict[str, Any]) -> None:
        try:
            reply = wire.success(request["id"], run_attempt(request), request["step_id"])
        except Exception as exc:
            reply = wire.failure(request["id"], exc)
        _answer(app, request["reply_to"], reply)


def run_attempt(request: dict[str, Any]) -> Any:
    """Run the attempt ``request`` names in this process and return its result."""
    name, version = request["step"], request["version"]
    step = registry.steps.get(name)
    if step is None:
        raise DefinitionError(
            f"step {name!r} is not defined in Celery worker pid {os.getpid()}: its app must "
            f"import the module that defines the step (e.g. the one `%wf export` wrote)")
    if step.version != version:
        raise DefinitionError(
            f"Celery worker pid {os.getpid()} has version {step.version} of step {name!r}, the "
            f"run called version {version}: restart the workers on the current code (export "
            f"the notebook again first)")
    args, kwargs = wire.unpack(request["call"])
    step_token = current_step.set(request["step_id"])
    attempt_token = step_attempt.set(request["attempt"])
    try:
        result = step.fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return result
    finally:
        current_step.reset(step_token)
        step_attempt.reset(attempt_token)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _answer(app: Any, reply_to: str, reply: dict[str, Any]) -> None:
    client = getattr(_connections, "client", None)
    if client is None or getattr(_connections, "pid", None) != os.getpid():
        client = redis.Redis.from_url(wire.redis_url(str(app.conf.broker_url)))
        _connections.client, _connections.pid = client, os.getpid()
    with client.pipeline() as pipe:
        pipe.rpush(reply_to, json.dumps(reply))
        pipe.expire(reply_to, wire.REPLY_TTL)
        pipe.execute()
