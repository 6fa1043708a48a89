"""A front-end's schedule made of several of this engine's, one per cron expression or
interval: ids ``ID``, ``ID~2``, ``ID~3``, ... behind the one id the front-end shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from .. import schedules as native

T = TypeVar("T")


def part_ids(schedule_id: str) -> list[str]:
    """The engine schedules behind ``schedule_id``, in order."""
    ids = [h.schedule_id for h in native.list_schedules()]
    return [i for i in ids if i == schedule_id or i.startswith(f"{schedule_id}~")]


def base_ids() -> list[str]:
    """Every front-end schedule id (parts folded into their first), oldest first."""
    return [h.schedule_id for h in native.list_schedules() if "~" not in h.schedule_id]


def create_parts(schedule_id: str, workflow: Any, entries: list[dict[str, Any]],
                 **common: Any) -> None:
    """One engine schedule per entry (``{"cron": ...}`` or ``{"every": ...}``)."""
    for i, entry in enumerate(entries, 1):
        native.schedule(workflow, **entry, **common,
                        schedule_id=schedule_id if i == 1 else f"{schedule_id}~{i}")


async def blocking(fn: Callable[[], T]) -> T:
    """``fn()`` (a blocking call into the engine) off the caller's event loop."""
    return await asyncio.to_thread(fn)


__all__ = ["base_ids", "blocking", "create_parts", "part_ids"]
