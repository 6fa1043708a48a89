"""Work that runs as one task at a time, once more when asked again meanwhile.

The inbox's drain and the leases' claim are both round trips to a shared store that any
number of notifications may ask for: they coalesce into one task, which goes round again if
a request came while it ran (so nothing notified is missed) or if the work asks for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["OneAtATime"]

log = logging.getLogger("pyworkflow_nb")


class OneAtATime:
    """Runs ``work`` on ``loop`` as one task at a time; ``work`` returns whether it wants
    another pass. A failure is logged as ``could not {what}`` (the next request retries)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[bool]],
                 what: str) -> None:
        self.loop, self.work, self.what = loop, work, what
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Run the work now, or once more after the pass under way."""
        if self._task is not None:
            self._again = True
            return
        self._task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                more = await self.work()
                if not (more or self._again):
                    return
        except Exception as exc:  # a store away: the next request retries
            log.warning("pyworkflow_nb: could not %s: %s", self.what, exc)
        finally:
            self._task = None

    def cancel(self) -> asyncio.Task[None] | None:
        """Stop a pass under way; returns its task (to await its end), if any."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task
