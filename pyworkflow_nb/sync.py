"""The sync client: every async call of the API, without ``await``.

Works in scripts and notebook cells alike: the engine runs on a thread of its own there, so a
blocking call waits for it while other runs keep moving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from . import client, timeskip
from .client import BaseRunHandle
from .definitions import Workflow
from .durations import DurationLike
from .engine import Engine
from .engine.clock import DEFAULT_SKIP_LIMIT
from .engine.forking import fork_run
from .engine.restarting import restart_run
from .engine.retry import retry_run
from .runtime import in_kernel, in_marimo, runtime

PROGRESS_AFTER = 1.0
T = TypeVar("T")


class SyncRunHandle(BaseRunHandle):
    """A run handle whose ``result``, ``cancel``, ``send_event`` and ``retry`` block: the
    sync twin of :class:`RunHandle` (same reads, same parameters).

    A handle :meth:`SyncClient.start` returned before the engine took the start in waits for
    it on first use, and raises there what the start raised.
    """

    def __init__(self, run_id: str,
                 started: concurrent.futures.Future[Any] | None = None) -> None:
        super().__init__(run_id)
        self._started = started

    def _engine(self) -> Engine:
        if self._started is not None:
            self._started.result()
            self._started = None
        return super()._engine()

    def _call(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        self._engine()
        return runtime.call_sync(fn)

    def result(self, timeout: DurationLike | None = None, *, follow: bool = True) -> Any:
        """Block until the run finishes and return its result (see ``RunHandle.result``)."""
        limit = client._timeout(timeout)
        return self._call(lambda e: e.result(self.run_id, limit, follow=follow))

    def cancel(self, reason: str | None = None) -> None:
        """Cancel the run and wait until the request is recorded."""
        self._call(lambda e: e.cancel(self.run_id, reason))

    def terminate(self, reason: str | None = None) -> None:
        """End the run at once (see ``RunHandle.terminate``); returns once it is recorded."""
        self._call(lambda e: e.terminate(self.run_id, reason))

    def pause(self) -> None:
        """Pause the run (see ``RunHandle.pause``) and wait until it is recorded."""
        self._call(lambda e: e.pause(self.run_id))

    def resume(self) -> None:
        """Let a paused run go on, once that is recorded."""
        self._call(lambda e: e.resume(self.run_id))

    def signal(self, name: str, *args: Any) -> None:
        """Send a signal (see ``RunHandle.signal``) and wait until it is recorded."""
        self._call(lambda e: e.signal(self.run_id, name, args))

    def update(self, name: str, *args: Any, update_id: str | None = None) -> Any:
        """Send an update and block for its result (see ``RunHandle.update``)."""
        return self._call(lambda e: e.update(self.run_id, name, args, update_id))

    def query(self, name: str, *args: Any) -> Any:
        """Ask a query of the run (see ``RunHandle.query``)."""
        return self._call(lambda e: e.query(self.run_id, name, args))

    def send_event(self, name: str, payload: Any = None) -> None:
        """Deliver an event to the run and wait until it is recorded."""
        self._call(lambda e: e.send_event(self.run_id, name, payload))

    def retry(self) -> None:
        """Re-run a failed run from its first failed step and wait until it restarted."""
        self._call(lambda e: retry_run(e, self.run_id))

    def restart(self, reason: str | None = None) -> None:
        """Start the run over from scratch (see ``RunHandle.restart``) once that is recorded."""
        self._call(lambda e: restart_run(e, self.run_id, reason))

    def fork(self, from_step: str, *, run_id: str | None = None) -> SyncRunHandle:
        """Start a fork of the run from step ``from_step`` (see ``RunHandle.fork``)."""
        row = self._call(lambda e: fork_run(e, self.run_id, from_step, run_id))
        return SyncRunHandle(row.run_id)


class SyncClient:
    """The blocking twin of the module-level async API."""

    def start(self, workflow: Workflow | str, *args: Any, run_id: str | None = None,
              idempotency_key: str | None = None, executor: str | None = None,
              **kwargs: Any) -> SyncRunHandle:
        """Start a run and return its handle (see ``pw.start``).

        A new run (no ``run_id``, no ``idempotency_key``) started from another thread than the
        engine's is checked here, then handed to the engine without waiting for it: starts
        made back to back share the engine's writes as async ones do. Its start is durable
        with the engine's next write; the handle's first use, and the next call of the API
        that is not a start, wait for that.
        """
        engine = runtime.ensure(after_handed=False)
        if run_id is None and idempotency_key is None and runtime.engine_thread_is_another():
            engine.check_start(workflow, args, kwargs, executor)
            new_id = uuid.uuid4().hex[:12]

            def start() -> asyncio.Future[None]:
                engine.start_now(workflow, args, kwargs, new_run_id=new_id, executor=executor)
                return engine.writer.durable()

            return SyncRunHandle(new_id, runtime.hand_over(engine, start))
        row = runtime.call_sync(lambda e: e.start(workflow, args, kwargs, run_id=run_id,
                                                  idempotency_key=idempotency_key,
                                                  executor=executor))
        return SyncRunHandle(row.run_id)

    def run(self, workflow: Workflow | str, *args: Any, run_id: str | None = None,
            idempotency_key: str | None = None, **kwargs: Any) -> Any:
        """Start a run and block until its result.

        In a notebook cell (Jupyter or marimo), a run still going after ``PROGRESS_AFTER``
        seconds shows its live timeline (with its "N done / M total" progress) while the cell
        waits.
        """
        handle = self.start(workflow, *args, run_id=run_id, idempotency_key=idempotency_key,
                            **kwargs)
        if not (in_kernel() or in_marimo()):
            return handle.result()
        try:
            return handle.result(timeout=PROGRESS_AFTER)
        except TimeoutError:
            handle.timeline().show()
        return handle.result()

    def get_run(self, run_id: str) -> SyncRunHandle:
        """The handle of an existing run; raises ``RunNotFound`` for an unknown id."""
        return SyncRunHandle(client.get_run(run_id).run_id)

    def run_chain(self, run_id: str) -> list[SyncRunHandle]:
        """The runs of ``run_id``'s continue-as-new chain, first to last (see ``pw.run_chain``)."""
        return [SyncRunHandle(h.run_id) for h in client.run_chain(run_id)]

    def list_runs(self, workflow: Workflow | str | None = None, status: str | None = None,
                  limit: int | None = 100) -> list[SyncRunHandle]:
        """Runs, newest first (see ``pw.list_runs``)."""
        return [SyncRunHandle(h.run_id) for h in client.list_runs(workflow, status, limit)]

    def purge(self, *, older_than: DurationLike, status: str | None = None,
              workflow: Workflow | str | None = None) -> int:
        """Delete finished runs older than ``older_than`` (see ``pw.purge``); returns how many."""
        return runtime.call_sync(client.purge_call(older_than, status, workflow))

    def sql(self, query: str, params: Any = None) -> Any:
        """Run SQL on the store (see ``pw.sql``)."""
        return client.sql(query, params)

    def recover(self) -> list[SyncRunHandle]:
        """Resume unfinished runs now; returns once each has replayed its history."""
        runs = runtime.call_sync(lambda e: e.recover())
        return [SyncRunHandle(r.run_id) for r in runs]

    def skip(self, duration: DurationLike) -> datetime:
        """Move virtual time forward (see ``pw.skip``)."""
        return timeskip.skip(duration)

    def skip_until_idle(self, limit: int = DEFAULT_SKIP_LIMIT) -> datetime:
        """Move virtual time until no run waits on a timer (see ``pw.skip_until_idle``)."""
        return timeskip.skip_until_idle_sync(limit)


def run(workflow: Workflow | str, *args: Any, run_id: str | None = None,
        idempotency_key: str | None = None, **kwargs: Any) -> Any:
    """Start a run of ``workflow`` and return its result, blocking (scripts and cells)."""
    return SyncClient().run(workflow, *args, run_id=run_id, idempotency_key=idempotency_key,
                            **kwargs)
