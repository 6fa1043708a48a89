"""How a run's body ends: its outcome recorded as the run's last event and row."""

from __future__ import annotations

import asyncio
import json
import uuid
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..context import ContinueAsNew
from ..definitions import Workflow
from ..history import vocabulary as ev
from ..serde import encode, encode_error
from ..store import RunRow
from .pending import Delivery
from .replaying import Replaying
from .workflow_loop import io_refused

if TYPE_CHECKING:
    from .run import Run


@dataclass(eq=False)
class Ending:
    """How a run ended: its terminal status, its result or error, or why it was stopped."""

    status: str
    error: dict[str, Any] | None = None
    exc: BaseException | None = None
    result_json: str | None = None
    reason: str | None = None  # of a cancel or a terminate
    next: ContinueAsNew | None = None  # the run to continue as

class Ends(Replaying):
    """Running the body to its end, recording the end, and stopping at a shutdown."""

    row: RunRow
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ended_replaying: bool
    _ending: Ending | None
    _finishing: asyncio.Task[None] | None
    _store_error: BaseException | None
    cancel_reason: str | None
    handler_error: BaseException | None
    terminating: bool
    stopped: bool
    deliveries: list[Delivery]
    end_updates: Callable[[str], None]

    @abstractmethod
    def durable(self) -> Awaitable[None]: ...

    @property
    @abstractmethod
    def halted(self) -> bool: ...

    @abstractmethod
    def after_durable(self, apply: Callable[[], None], ts: float, *,
                      durable: bool = True) -> None: ...

    def request_cancel(self, ts: float, reason: str | None = None) -> None:
        """Cancel the body once the cancel request is durable."""
        self.cancel_requested = True
        self.cancel_reason = reason
        self.after_durable(self.deliver_cancel, ts)

    async def terminate(self, reason: str | None) -> None:
        """End the run now: running step attempts are cancelled (and recorded so), the body
        sees nothing more and issues nothing more, and ``workflow.terminated`` ends it."""
        if self._finishing is not None:  # it ended on its own meanwhile
            await self._finishing
            return
        self.terminating = True
        await asyncio.gather(*self._cancel_works(), return_exceptions=True)
        self.deliveries.clear()
        self._cancel_body()
        if not self.loop.is_closed():
            self.loop.run_until_idle()
        self._ending = None  # whatever the unwinding body made of it, the run was terminated
        self._end(Ending(ev.TERMINATED, reason=reason))
        self._check_ended()
        if self._finishing is not None:
            await self._finishing

    async def _body(self, workflow: Workflow) -> None:
        try:
            coro = workflow.fn(*self.args, **self.kwargs)
            if workflow.timeout is None:
                result = await coro
            else:
                result = await self.with_timeout(coro, workflow.timeout)
            if self.replay.active and self.replay.unmatched:
                raise self.replay.diverged("the workflow returned")
            data = encode(result, where=f"the result of run {self.run_id}")
        except ContinueAsNew as request:
            self._end(Ending(ev.CONTINUED, next=request))
            return
        except asyncio.CancelledError:
            if self.halted or self.terminating:
                raise
            if self.divergence is not None:
                self._end(self._failure(self.divergence))
            elif self._store_error is not None:
                self._end(self._failure(self._store_error))
            elif self.handler_error is not None:
                self._end(self._failure(self.handler_error))
            elif self.cancel_requested and self.replay.active and self.replay.unmatched:
                # the cancel ended the body before it gave commands its history holds
                self._end(self._failure(self.replay.diverged("the workflow was cancelled")))
            elif self.cancel_requested:
                self._end(Ending(ev.CANCELLED, reason=self.cancel_reason))
            else:
                raise
            return
        except RuntimeError as exc:
            if "attached to a different loop" not in str(exc):
                self._end(self._failure(exc))
                return
            refused = io_refused("awaiting a future or task of another event loop")
            refused.__cause__ = exc
            self._end(self._failure(refused))
            return
        except Exception as exc:
            self._end(self._failure(exc))
            return
        self._end(Ending(ev.COMPLETED, result_json=data))

    def _failure(self, exc: BaseException) -> Ending:
        step = self.failed_step[1] if self.failed_step and self.failed_step[0] is exc else None
        error = encode_error(exc)
        if step:
            error["step"] = step
        return Ending(ev.FAILED, error, exc)

    def _end(self, ending: Ending) -> None:
        self._ending = ending
        self.ended_replaying = self.replay.active

    def _check_ended(self) -> None:
        if self._ending is not None and self._finishing is None:
            self._finishing = self.engine.loop.create_task(self.finish(self._ending))

    async def finish(self, ending: Ending) -> None:
        """Record the run's end, make it durable, apply its children's ``parent_close``
        policies, and tell the engine."""
        left = self._cancel_works()  # a child or a task the body never awaited
        if left:  # ends before the run does
            await asyncio.gather(*left, return_exceptions=True)
        next_run_id = None
        if ending.next is not None:
            next_run_id = uuid.uuid4().hex[:12]
            data = ev.workflow_continued(next_run_id, ending.next.workflow.name)
            ending.result_json = json.dumps(next_run_id)  # runs.result: the next run's id
        elif ending.result_json is not None:
            data = ev.result(ending.result_json)
        elif ending.error is not None:
            data = ev.workflow_failed(ending.error)
        else:
            data = ev.with_reason(ending.reason)
        self.emit(ev.FINAL_EVENTS[ending.status], None, None, data)
        row = self.row
        if ending.next is not None:  # the next run goes in with this end, in one commit, and
            # exists before this run shows "continued" (other threads read the status)
            await self.engine.start(ending.next.workflow, ending.next.args, ending.next.kwargs,
                                    run_id=next_run_id, parent_run_id=row.parent_run_id,
                                    continued_from=self.run_id)
        now = self.engine.clock.now()
        row.status = ending.status
        if ending.result_json is not None:
            row.result = ending.result_json
        error = ending.error
        if error is None and ending.reason is not None:
            error = {"type": ending.status, "message": ending.reason}
        row.error = None if error is None else json.dumps(
            {"type": error["type"], "message": error["message"], "step": error.get("step")})
        row.finished_at = row.updated_at = now
        self.engine.writer.run_changed(row)
        self.loop.close()
        try:
            await self.durable()
            await self.engine.close_children(cast("Run", self))
        finally:
            self.end_updates(ending.status)
            self.engine.finished(cast("Run", self), ending.exc)

    def _cancel_works(self) -> list[asyncio.Future[Any]]:
        """Cancel the engine-side work of every command in flight; returns it, to wait for."""
        works = [p.work for p in self.pending.values() if p.work is not None
                 and not p.work.done()]
        for work in works:
            work.cancel()
        return works

    def stop(self) -> list[asyncio.Future[Any]]:
        """Stop where it is (the engine closes, or the run goes dormant); returns the
        engine-side work to wait for."""
        self.stopped = True
        works = self._cancel_works()
        self._cancel_body()
        if not self.loop.is_closed():
            self.loop.run_until_idle()
            self.loop.close()
        return works
