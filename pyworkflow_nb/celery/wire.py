"""What travels between an engine and its Celery workers: one step attempt out, its outcome back.

Both are JSON objects (Celery's default serializer accepts them); the step's arguments, its
result and its exception travel inside them as base64 cloudpickle, so a step takes and returns
what a local step can. As with Celery's own pickle serializer, the broker must be trusted.
"""

from __future__ import annotations

import base64
import traceback
from typing import Any

import cloudpickle

from ..errors import InvalidInput, SerializationError

STEP_TASK = "pyworkflow_nb.step"
REPLY_TTL = 24 * 3600  # seconds a reply list outlives its last reply (its engine may be gone)


class RemoteTraceback(Exception):
    """The traceback a step raised with in a Celery worker (the ``__cause__`` of its error)."""

    def __str__(self) -> str:
        return str(self.args[0])


def pack(value: Any, what: str) -> str:
    try:
        return base64.b64encode(cloudpickle.dumps(value)).decode("ascii")
    except Exception as exc:
        raise SerializationError(f"{what} cannot travel to a Celery worker: {exc}") from exc


def unpack(text: str) -> Any:
    return cloudpickle.loads(base64.b64decode(text))


def request(*, request_id: str, reply_to: str, step: str, version: str, step_id: str | None,
            attempt: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """One attempt of ``step``, answered on the Redis list ``reply_to``."""
    return {"id": request_id, "reply_to": reply_to, "step": step, "version": version,
            "step_id": step_id, "attempt": attempt,
            "call": pack((args, kwargs), f"the arguments of step {step_id or step}")}


def success(request_id: str, result: Any, step_id: str) -> dict[str, Any]:
    return {"id": request_id, "ok": pack(result, f"the result of step {step_id}")}


def failure(request_id: str, exc: BaseException) -> dict[str, Any]:
    """The error a step raised, with its traceback as text; an error that cannot be pickled
    travels as a ``RuntimeError`` naming its type and message."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        packed = pack(exc, "the error")
    except SerializationError:
        packed = pack(RuntimeError(f"{type(exc).__qualname__}: {exc}"), "the error")
    return {"id": request_id, "error": packed, "traceback": trace}


def outcome(reply: dict[str, Any]) -> Any:
    """The attempt's result, or raise the error it raised (caused by its remote traceback)."""
    if "ok" in reply:
        return unpack(reply["ok"])
    error = unpack(reply["error"])
    error.__cause__ = RemoteTraceback(f"\n\"\"\"\n{reply['traceback']}\"\"\"")
    raise error


def redis_url(broker_url: str) -> str:
    """The redis-py URL of a Celery Redis broker URL (kombu spells a socket ``redis+socket``)."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://"):]
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return broker_url
    raise InvalidInput(
        f"pyworkflow_nb.celery needs a Redis broker (redis://, rediss:// or redis+socket://): "
        f"steps answer on a Redis list; this Celery app's broker is a "
        f"{broker_url.partition('://')[0] or 'missing'}:// one")
