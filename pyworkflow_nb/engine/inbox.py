"""Messages between processes sharing a store: events, signals, updates, cancels, terminates,
pauses and resumes for runs another process executes, and schedule changes for the process
that runs the schedules.

The sender stores the message in the store's inbox (then the server notifies every listening
process) and returns: the message is durable, and reaches the run wherever it executes, now
or once a process takes the run over. The process holding the run applies it as the call
would have been applied there, and the inbox row is deleted in the same commit as the event
it records, so a message is applied exactly once across crashes and takeovers. An update's
caller reads its answer from the events the run records.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, PyWorkflowError
from ..history import vocabulary as ev
from ..serde import decode, encode_error
from ..store import InboxRow, SharedStore
from .one_at_a_time import OneAtATime

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Inbox"]

log = logging.getLogger("pyworkflow_nb")


class Inbox:
    """Applies the messages other processes stored for the runs this engine holds."""

    def __init__(self, engine: Engine, store: SharedStore) -> None:
        self.engine, self.store = engine, store
        self._draining = OneAtATime(engine.loop, self._drain,
                                    f"read the inbox of {store.path}")

    def notified(self, run_id: str) -> None:
        """The server says a message was posted for ``run_id``."""
        if (run_id in self.engine.runs or run_id in self.engine.dormancy.runs
                or (run_id.startswith("schedule:") and self.engine.scheduler.leading)):
            self.drain_soon()

    def drain_soon(self) -> None:
        """Apply the stored messages for this engine's runs (once more if already doing so)."""
        if not self.engine.closing:
            self._draining.request()

    async def _drain(self) -> bool:
        engine = self.engine
        rows = await engine.loop.run_in_executor(
            None, functools.partial(self.store.held_messages,
                                    scheduler=engine.scheduler.leading))
        for row in rows:
            if engine.closing:
                return False
            await self._apply(row)
        # the rows' deletions are committed before the next read could see them again
        await engine.writer.durable()
        return False

    async def _apply(self, row: InboxRow) -> None:
        engine = self.engine
        await engine.wait_recovered()
        if row.kind == "schedule" and not engine.scheduler.leading:
            return  # leadership moved meanwhile: the new leader applies it
        # no suspension from here to the call's first event: the row's deletion commits with it
        engine.writer.consume_message(row.id)
        if row.kind == "schedule":
            self._schedule(row)
            return
        if engine.live_run(row.run_id) is None:
            return  # it ended (or was lost) since: the message has nothing to reach
        try:
            await self._call(row)
        except PyWorkflowError as exc:
            if row.kind == "update" and isinstance(exc, InvalidInput):
                self._refuse_update(row, exc)  # no such handler: the sender reads the refusal
            log.info("pyworkflow_nb: %s for run %s from %s not applied: %s", row.kind,
                     row.run_id, row.sender, exc)

    def _schedule(self, row: InboxRow) -> None:
        scheduler = self.engine.scheduler
        try:
            scheduler.apply_handed(str(row.name), row.run_id.removeprefix("schedule:"),
                                   json.loads(row.data or "{}"))
        except PyWorkflowError as exc:
            log.info("pyworkflow_nb: schedule change %s from %s not applied: %s", row.name,
                     row.sender, exc)

    def _refuse_update(self, row: InboxRow, exc: InvalidInput) -> None:
        run = self.engine.live_run(row.run_id)
        if run is not None:
            update_id = json.loads(row.data or "{}")["update_id"]
            run.emit(ev.UPDATE_REJECTED, update_id, None,
                     ev.update_rejected(str(row.name), encode_error(exc)))

    def _call(self, row: InboxRow) -> Awaitable[Any]:
        """The engine call a message stands for (started, not awaited)."""
        engine, run_id, name = self.engine, row.run_id, str(row.name)
        if row.kind == "update":
            sent = json.loads(row.data or "{}")
            return engine.update(run_id, name, tuple(decode(sent["args"]) or ()),
                                 sent["update_id"], wait=False)
        data = decode(row.data) if row.data else None
        if row.kind == "event":
            return engine.send_event(run_id, name, data)
        if row.kind == "signal":
            return engine.signal(run_id, name, tuple(data or ()))
        if row.kind == "cancel":
            return engine.cancel(run_id, data)
        if row.kind == "terminate":
            return engine.terminate(run_id, data)
        if row.kind == "pause":
            return engine.pause(run_id)
        if row.kind == "resume":
            return engine.resume(run_id)
        raise InvalidInput(f"a message of unknown kind {row.kind!r} (from a newer "
                           "pyworkflow_nb?); it is dropped")

    def close(self) -> None:
        """Stop applying messages (those not applied stay in the store)."""
        self._draining.cancel()
