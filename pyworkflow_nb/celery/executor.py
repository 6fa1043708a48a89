"""The engine's side: each step attempt becomes a Celery task, its outcome comes back on Redis.

The run still decides everything durable (attempts, retry delays, timeouts, what is recorded):
a task is one attempt, sent with Celery's retries off, and a failed attempt is retried by the
run after its recorded delay, as a new task. Replies arrive on a Redis list of this executor's
own, read by one thread; publishing happens on another, so the engine's loop never waits on
the network. An attempt the run gives up on (a timeout, a cancel) is revoked; if a worker had
already started it, its late reply is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from ..context import current_step, step_attempt
from ..definitions import Step
from ..engine.steps import StepExecutor
from . import wire

log = logging.getLogger("pyworkflow_nb.celery")
RECONNECT_AFTER = 0.5  # seconds between attempts to reach Redis again for replies


class CeleryStepExecutor(StepExecutor):
    """Runs step attempts as ``pyworkflow_nb.step`` tasks of a Celery app with a Redis broker;
    with ``limit``, at most that many are in flight at once."""

    def __init__(self, app: Any, limit: int | None = None) -> None:
        super().__init__(limit)
        self.app = app
        self.reply_to = f"pyworkflow_nb:replies:{uuid.uuid4().hex}"
        self._redis = redis.Redis.from_url(wire.redis_url(str(app.conf.broker_url)))
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="pyworkflow-celery-send")
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None

    def start(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        return self._attempt(wire.request(
            request_id=uuid.uuid4().hex, reply_to=self.reply_to, step=step.name,
            version=step.version, step_id=current_step.get(), attempt=step_attempt.get(),
            args=args, kwargs=kwargs))

    async def _attempt(self, request: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._waiting[request["id"]] = (loop, answered)
        self._listen()
        try:
            await loop.run_in_executor(self._publisher, self._publish, request)
            return wire.outcome(await answered)
        except asyncio.CancelledError:
            with contextlib.suppress(RuntimeError):  # shut down: the workers are told nothing
                self._publisher.submit(self._revoke, request["id"])
            raise
        finally:
            with self._lock:
                self._waiting.pop(request["id"], None)

    def _publish(self, request: dict[str, Any]) -> None:
        self.app.send_task(wire.STEP_TASK, args=[request], task_id=request["id"],
                           ignore_result=True)

    def _revoke(self, task_id: str) -> None:
        try:
            self.app.control.revoke(task_id)
        except Exception:  # revoking only saves a worker some work; the reply is dropped anyway
            log.debug("could not revoke step task %s", task_id, exc_info=True)

    def _listen(self) -> None:
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._read_replies, daemon=True,
                                                  name="pyworkflow-celery-replies")
                self._listener.start()

    def _read_replies(self) -> None:
        try:
            self._read_until_stopped()
        finally:
            self._redis.close()

    def _read_until_stopped(self) -> None:
        while not self._stopping.is_set():
            try:
                popped = self._redis.blpop([self.reply_to], timeout=1)
            except redis.RedisError:
                if self._stopping.is_set():
                    return
                log.warning("cannot read step replies from Redis; retrying", exc_info=True)
                self._stopping.wait(RECONNECT_AFTER)
                continue
            if popped is None:
                continue
            reply = json.loads(popped[1])
            with self._lock:
                waiting = self._waiting.get(reply["id"])
            if waiting is not None:  # else a reply to an attempt the run gave up on
                loop, answered = waiting
                loop.call_soon_threadsafe(_settle, answered, reply)

    def shutdown(self) -> None:
        self._stopping.set()
        self._publisher.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._listener is None:
                self._redis.close()


def _settle(answered: asyncio.Future[Any], reply: dict[str, Any]) -> None:
    if not answered.done():
        answered.set_result(reply)
