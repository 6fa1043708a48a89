"""What a run keeps about each command in flight and each outcome on its way to the body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .history import Command


@dataclass(eq=False, slots=True)
class Pending:
    """A command the body issued and has not seen the end of."""

    kind: str
    id: str
    future: asyncio.Future[Any]  # on the run's loop: what the body awaits
    recorded: Command | None
    start: Callable[[Pending], None]  # carries the command out live (or resumes it)
    started: bool = False
    counted: bool = False  # shown in the run's status as sleeping or waiting
    work: asyncio.Future[Any] | None = None  # the engine's side, cancelled if the body gives up
    until: float | None = None  # a timer's deadline, once started


@dataclass(eq=False, slots=True)
class Delivery:
    """An outcome waiting to be handed to the body, once it is durable."""

    apply: Callable[[], None]
    ts: float
    ready: bool = False


def settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Resolve ``fut`` with ``value`` or ``error`` unless it is already done."""
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class _Done:
    """An awaitable that is already complete (relaxed durability)."""

    def __await__(self):  # type: ignore[no-untyped-def]
        return iter(())


DONE = _Done()
