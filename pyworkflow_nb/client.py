"""The async client: run handles and the module-level calls of the public API."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .definitions import Workflow
from .displays import views
from .durations import DurationLike, iso_utc, parse_duration
from .engine import Engine
from .engine.forking import fork_run
from .engine.restarting import restart_run
from .engine.retry import retry_run
from .history import vocabulary as ev
from .history.files import write_history_file
from .runtime import in_kernel, runtime
from .serde import decode
from .store import EventRow, RunRow

if TYPE_CHECKING:
    from anywidget import AnyWidget


def _timeout(value: DurationLike | None) -> float | None:
    return None if value is None else parse_duration(value, what="result timeout")


def event_dict(row: EventRow) -> dict[str, Any]:
    """An event row as a dict with its ``data`` parsed."""
    run_id, seq, ts, type_, step, attempt, data = row
    return {"run_id": run_id, "seq": seq, "ts": ts, "type": type_, "step": step,
            "attempt": attempt, "data": json.loads(data) if data else {}}


class BaseRunHandle:
    """What both run handles share: the run's id and every read of its state and history.

    :class:`RunHandle` adds the async calls that act on the run; ``SyncRunHandle`` adds the
    same calls, blocking.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def _engine(self) -> Engine:
        return runtime.ensure()

    def row(self) -> RunRow:
        """The run's row of the ``runs`` table, as it is now."""
        return self._engine().get_row(self.run_id)

    @property
    def workflow(self) -> str:
        return self.row().workflow

    def status(self) -> str:
        """``running``, ``sleeping``, ``waiting``, ``completed``, ``failed``, ``cancelled``, ..."""
        return self.row().status

    def events(self) -> list[dict[str, Any]]:
        """The run's events in order, committed or about to be."""
        return [event_dict(e) for e in self._engine().events(self.run_id)]

    def export_history(self, path: str | os.PathLike[str]) -> Path:
        """Write the run's events to a JSON file that ``pw.Replayer`` replays anywhere."""
        return write_history_file(path, self._engine().events(self.run_id))

    def steps(self) -> list[dict[str, Any]]:
        """One dict per step (the ``steps`` view) for this run."""
        names, rows = self._engine().store.run_steps(self.run_id)
        return [dict(zip(names, r, strict=False)) for r in rows]

    def describe(self) -> dict[str, Any]:
        """The run's row as a dict with decoded input, result and error and ISO times."""
        data = asdict(self.row())
        for key in ("input", "result"):
            data[key] = decode(data[key])
        data["error"] = json.loads(data["error"]) if data["error"] else None
        for key in ("created_at", "started_at", "finished_at", "updated_at", "scheduled_at"):
            if data[key] is not None:
                data[key] = iso_utc(data[key])
        return data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseRunHandle) and other.run_id == self.run_id

    def __hash__(self) -> int:
        return hash(self.run_id)

    def timeline(self) -> AnyWidget:
        """The run's timeline widget (a ``TimelineWidget``); it follows the run live until it
        ends."""
        return views["timeline"](self.run_id, self._engine())  # type: ignore[no-any-return]

    def _ipython_display_(self) -> None:
        """In a kernel, a live run's timeline widget, which settles into the static timeline
        when the run ends; a finished run (or any run outside a kernel), the static timeline.
        ``timeline()`` is the interactive widget, also for a finished run."""
        from IPython.display import display

        if not in_kernel():
            display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)
        elif self.row().status not in ev.TERMINAL_STATUSES:
            self.timeline().show()
        else:
            html = views["run_html"](self._engine(), self.run_id, hint=True)
            display({"text/plain": repr(self), "text/html": html}, raw=True)

    def _display_(self) -> Any:
        """In marimo: a live run's timeline widget, a finished run's static timeline."""
        if self.row().status not in ev.TERMINAL_STATUSES:
            return self.timeline()
        import marimo

        return marimo.Html(self._repr_html_())

    def _repr_html_(self) -> str:
        return views["run_html"](self._engine(), self.run_id)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        try:
            row = self.row()
        except Exception:
            return f"<{type(self).__name__} {self.run_id}>"
        return f"<{type(self).__name__} {row.run_id} workflow={row.workflow} status={row.status}>"



class RunHandle(BaseRunHandle):
    """A run of a workflow: await its result, send it events, cancel it, read its history."""

    async def result(self, timeout: DurationLike | None = None, *, follow: bool = True) -> Any:
        """Wait for the run and return its result.

        A run that continued as a new one (``pw.continue_as_new``) is followed to the last
        run of its chain; with ``follow=False`` it raises ``WorkflowContinued`` instead.

        Raises ``WorkflowFailed`` (the workflow's exception as ``__cause__``),
        ``WorkflowCancelled``, ``WorkflowTerminated``, or ``TimeoutError`` after ``timeout``
        (the run goes on).
        """
        limit = _timeout(timeout)
        return await runtime.call(lambda e: e.result(self.run_id, limit, follow=follow))

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel the run: ``asyncio.CancelledError`` is raised at its current await (the
        workflow may clean up); ``reason`` is recorded and shown with the outcome."""
        await runtime.call(lambda e: e.cancel(self.run_id, reason))

    async def terminate(self, reason: str | None = None) -> None:
        """End the run at once: no more of its code runs, running step attempts are
        cancelled, and ``workflow.terminated`` records ``reason``. Refused for a finished run."""
        await runtime.call(lambda e: e.terminate(self.run_id, reason))

    async def pause(self) -> None:
        """Pause the run: no new step starts (running attempts finish); timers and events
        that come meanwhile are recorded and handed to the workflow at :meth:`resume`."""
        await runtime.call(lambda e: e.pause(self.run_id))

    async def resume(self) -> None:
        """Let a paused run go on."""
        await runtime.call(lambda e: e.resume(self.run_id))

    async def signal(self, name: str, *args: Any) -> None:
        """Send signal ``name`` with ``args`` to the run's handler (``pw.set_signal_handler``);
        recorded first, so it reaches a sleeping, paused or restarting run too."""
        await runtime.call(lambda e: e.signal(self.run_id, name, args))

    async def update(self, name: str, *args: Any, update_id: str | None = None) -> Any:
        """Send update ``name`` (``pw.set_update_handler``) and return its handler's value.

        Raises ``UpdateRejected`` when the validator refuses it (the run never sees it) and
        ``UpdateFailed`` when the handler raises (the run goes on). Sending the same
        ``update_id`` again returns that update's outcome instead of applying it twice.
        """
        return await runtime.call(lambda e: e.update(self.run_id, name, args, update_id))

    async def query(self, name: str, *args: Any) -> Any:
        """Ask the run's query handler ``name`` (``pw.set_query_handler``); records nothing.
        A finished run is replayed from its history to answer."""
        return await runtime.call(lambda e: e.query(self.run_id, name, args))

    async def send_event(self, name: str, payload: Any = None) -> None:
        """Deliver an event to the run's ``pw.wait_for_event(name)`` (now or later)."""
        await runtime.call(lambda e: e.send_event(self.run_id, name, payload))

    async def retry(self) -> None:
        """Re-run a failed run from its first failed step; finished steps are kept."""
        await runtime.call(lambda e: retry_run(e, self.run_id))

    async def restart(self, reason: str | None = None) -> None:
        """Start the run over from scratch, same run id and input, with the code defined now
        (a run in flight is terminated first). The earlier attempt stays readable as run
        ``RUN~1`` (``~2``, ...), its child runs under it, with ``runs.attempt_of`` set."""
        await runtime.call(lambda e: restart_run(e, self.run_id, reason))

    async def fork(self, from_step: str, *, run_id: str | None = None) -> RunHandle:
        """Start a new run that reuses this run's results before step ``from_step``
        (``"fetch#2"``; ``"fetch"`` is ``"fetch#1"``) and executes that step and the rest
        with the code defined now; ``runs.forked_from`` links it here."""
        row = await runtime.call(lambda e: fork_run(e, self.run_id, from_step, run_id))
        return RunHandle(row.run_id)


async def start(workflow: Workflow | str, *args: Any, run_id: str | None = None,
                idempotency_key: str | None = None, executor: str | None = None,
                **kwargs: Any) -> RunHandle:
    """Start a run of ``workflow`` and return its handle at once.

    With an existing ``run_id`` (or an ``idempotency_key`` already used for this workflow),
    returns the existing run instead of starting a second one. ``executor="workers"`` leaves
    the run to the worker processes of a shared store (default: ``pw.configure(executor=)``).
    """
    row = await runtime.call(lambda e: e.start(workflow, args, kwargs, run_id=run_id,
                                               idempotency_key=idempotency_key,
                                               executor=executor))
    return RunHandle(row.run_id)


def get_run(run_id: str) -> RunHandle:
    """The handle of an existing run; raises ``RunNotFound`` for an unknown id."""
    runtime.ensure().get_row(run_id)
    return RunHandle(run_id)


def run_chain(run_id: str) -> list[RunHandle]:
    """The runs of ``run_id``'s continue-as-new chain, first to last (one run if it has none)."""
    engine = runtime.ensure()
    chain = [engine.get_row(run_id)]
    while chain[0].continued_from is not None:
        chain.insert(0, engine.get_row(chain[0].continued_from))
    while chain[-1].status == ev.CONTINUED:
        chain.append(engine.get_row(decode(chain[-1].result)))
    return [RunHandle(row.run_id) for row in chain]


def list_runs(workflow: Workflow | str | None = None, status: str | None = None,
              limit: int | None = 100) -> list[RunHandle]:
    """Runs, newest first, optionally of one workflow and/or one status."""
    name = workflow.name if isinstance(workflow, Workflow) else workflow
    rows = runtime.ensure().store.list_runs(workflow=name, status=status, limit=limit)
    return [RunHandle(r.run_id) for r in rows]


def sql(query: str, params: Any = None) -> Any:
    """Read-only SQL on the store; returns DuckDB's relation (``fetchall()``, ``df()``, ...).

    Writes are refused with ``pw.InvalidInput``: the engine is the store's only writer.
    """
    return runtime.ensure().store.sql(query, params)


async def purge(*, older_than: DurationLike, status: str | None = None,
                workflow: Workflow | str | None = None) -> int:
    """Delete finished runs (and their events) that ended more than ``older_than`` ago.

    ``status`` narrows it to ``completed``, ``failed`` or ``cancelled`` runs and ``workflow``
    to one workflow; unfinished runs, and children of unfinished parents, are never touched.
    Returns how many runs were removed.
    """
    return await runtime.call(purge_call(older_than, status, workflow))


def purge_call(older_than: DurationLike, status: str | None,
               workflow: Workflow | str | None) -> Callable[[Engine], Awaitable[int]]:
    """The engine call behind ``pw.purge`` and ``SyncClient.purge``, arguments checked."""
    age = parse_duration(older_than, what="purge older_than")
    name = workflow.name if isinstance(workflow, Workflow) else workflow
    return lambda e: e.purge(older_than=age, status=status, workflow=name)


async def recover() -> list[RunHandle]:
    """Resume unfinished runs of the store now; returns once each has replayed."""
    runs = await runtime.call(lambda e: e.recover())
    return [RunHandle(r.run_id) for r in runs]


def configure(*, store: str | None = None, durability: str | None = None,
              read_only: bool | None = None, concurrency: int | None = None,
              lease: DurationLike | None = None, executor: str | None = None) -> None:
    """Choose the store (a path, ``":memory:"`` or a ``postgresql://`` URL), durability
    (``"sync"``/``"relaxed"``), how many step attempts may run at once (``concurrency``;
    default: no cap) and, in a PostgreSQL store that processes share, how long this
    process's hold on its runs lasts unless renewed (``lease``, default 30 s): another
    process takes a run over that long after its process died. ``executor="workers"`` makes
    runs started here wait for the worker processes of that store (``pyworkflow-nb worker``)
    instead of running in this process.

    Call before first use; calling it later closes the current engine (runs resume on the
    next start). The store defaults to ``$PYWORKFLOW_NB_STORE`` or
    ``.pyworkflow_nb/store.duckdb`` in the working directory.
    """
    runtime.configure(store=store, durability=durability, read_only=read_only,
                      concurrency=concurrency, lease=lease, executor=executor)


def shutdown() -> None:
    """Flush pending writes and close the engine and the store."""
    runtime.shutdown()
