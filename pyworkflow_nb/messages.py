"""Talking to a workflow while it runs: signal and query handlers, and conditions to wait on.

Inside a workflow body::

    approvals = []
    pw.set_signal_handler("approve", approvals.append)      # handle.signal("approve", "ana")
    pw.set_query_handler("progress", lambda: len(approvals))  # handle.query("progress")
    await pw.wait_condition(lambda: len(approvals) >= 2, timeout="1d")

Signals and updates are recorded and replayed; queries record nothing; a condition is
checked after every activation of the run, so it is replayed exactly too. An update is a
signal that answers: ``pw.set_update_handler("discount", apply, validator=check)`` and
``handle.update("discount", 10)`` returns what ``apply(10)`` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .context import require_run
from .durations import DurationLike, parse_duration
from .errors import InvalidInput

__all__ = ["set_query_handler", "set_signal_handler", "set_update_handler", "wait_condition"]


def _check(what: str, name: Any, fn: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} needs a name string, got {name!r}")
    if fn is not None and not callable(fn):
        raise InvalidInput(f"{what}({name!r}, ...) needs a function (or None to remove it), "
                           f"got {fn!r}")


def set_signal_handler(name: str, fn: Callable[..., Any] | None) -> None:
    """Call ``fn(*args)`` for each ``handle.signal(name, *args)``, in the order they came.

    ``fn`` may be ``async`` (it may then await steps and timers). Signals sent before the
    handler is set wait for it. An error in ``fn`` fails the run. ``None`` removes it.
    """
    _check("pw.set_signal_handler", name, fn)
    require_run("pw.set_signal_handler()").set_signal_handler(name, fn)


def set_query_handler(name: str, fn: Callable[..., Any] | None) -> None:
    """Answer ``handle.query(name, *args)`` with ``fn(*args)``: a plain ``def`` that reads the
    workflow's state and changes nothing (a query records nothing). ``None`` removes it."""
    _check("pw.set_query_handler", name, fn)
    require_run("pw.set_query_handler()").set_query_handler(name, fn)


def set_update_handler(name: str, fn: Callable[..., Any] | None,
                       validator: Callable[..., Any] | None = None) -> None:
    """Run ``fn(*args)`` for each ``handle.update(name, *args)`` and return its value to the
    caller; ``fn`` may be ``async`` and await steps and sleeps.

    ``validator(*args)``, a plain ``def``, runs first on the run as it stands: if it raises,
    the caller gets ``pw.UpdateRejected`` and the run never sees the update (the refusal is
    recorded). It must only read state. ``None`` as ``fn`` removes the handler.
    """
    _check("pw.set_update_handler", name, fn)
    if validator is not None and not callable(validator):
        raise InvalidInput(f"pw.set_update_handler({name!r}, ...): validator must be a "
                           f"function, got {validator!r}")
    require_run("pw.set_update_handler()").set_update_handler(name, fn, validator)


async def wait_condition(predicate: Callable[[], Any], *,
                         timeout: DurationLike | None = None) -> bool:
    """Wait until ``predicate()`` is true: True; or False once ``timeout`` (durable) passed.

    The predicate is checked now and after everything the run receives (a step's result, a
    timer, an event, a signal), so it must only read the workflow's own state.
    """
    if not callable(predicate):
        raise InvalidInput(f"pw.wait_condition needs a function, got {predicate!r}")
    seconds = None if timeout is None else parse_duration(timeout, what="wait_condition timeout")
    run = require_run("pw.wait_condition()")
    if predicate():
        return True
    held = run.wait_condition(predicate)
    if seconds is None:
        return await held
    try:
        return await asyncio.wait_for(held, seconds)  # a durable timer on the run's loop
    except TimeoutError:
        return False
