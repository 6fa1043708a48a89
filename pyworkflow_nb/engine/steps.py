"""Where a step's code runs: the seam a worker-process or Celery executor plugs into.

The run decides attempts, retries, timeouts and what gets recorded; an executor only runs one
attempt of a step and returns an awaitable of its result.
"""

from __future__ import annotations

import asyncio
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..definitions import Step


class StepExecutor(ABC):
    """Runs one attempt of a step; with ``limit``, at most that many attempts run at once
    (the others wait their turn)."""

    def __init__(self, limit: int | None = None) -> None:
        self._slots = None if limit is None else asyncio.Semaphore(limit)

    def execute(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Start the attempt, in its turn; the awaitable gives its result or raises its error."""
        if self._slots is not None:
            return self._in_turn(self._slots, step, args, kwargs)
        return self.start(step, args, kwargs)

    async def _in_turn(self, slots: asyncio.Semaphore, step: Step, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        async with slots:
            return await self.start(step, args, kwargs)

    @abstractmethod
    def start(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Start the attempt now (the run's step context is current)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Release what the executor holds (the engine closes)."""


class LocalStepExecutor(StepExecutor):
    """Async steps as coroutines on the engine's loop, plain ``def`` steps in threads."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(limit)
        self._threads = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="pyworkflow-step")

    def start(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        if step.is_async:
            return step.fn(*args, **kwargs)  # type: ignore[no-any-return]
        ctx = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(
            self._threads, lambda: ctx.run(step.fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
