"""The engine: starts, resumes, cancels and finishes runs on one event loop.

It owns the writer (group commit), the timers and the clock, keeps every unfinished run in
memory, and resumes runs recorded in the store when their workflow is defined.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from ..definitions import Definition, Registry, Workflow, check_call, registry
from ..errors import (
    InvalidInput,
    PyWorkflowError,
    PyWorkflowWarning,
    RunNotFound,
    SerializationError,
    UpdateFailed,
    UpdateRejected,
    WorkflowCancelled,
    WorkflowContinued,
    WorkflowFailed,
    WorkflowTerminated,
)
from ..history import vocabulary as ev
from ..serde import decode, decode_error, encode
from ..store import DefinitionRow, EventRow, EventStore, RunRow, SharedStore, Writer
from ..store.writer import Durability
from . import collector
from .clock import Clock
from .dormancy import Dormancy
from .ending import Ending
from .inbox import Inbox
from .leases import CLAIM_BATCH, Leases
from .metrics import RUNS_LIVE, TIMERS_PENDING, EngineMetrics, Family, Sample
from .offline import query_history
from .run import Run
from .scheduler import SCHEDULER_ROLE, Scheduler
from .steps import LocalStepExecutor, StepExecutor
from .timers import Timers

EventListener = Callable[[EventRow], None]
Executor = Literal["here", "workers"]
StatusListener = Callable[[RunRow], None]
T = TypeVar("T")
_RECENT_LIMIT = 10_000  # finished runs kept in memory while the store catches up


#: How often a result awaited here, of a run another process executes, is read from the store.
ELSEWHERE_POLL = 0.1
_UPDATE_ENDS = frozenset((ev.UPDATE_COMPLETED, ev.UPDATE_FAILED, ev.UPDATE_REJECTED))


def _warn_if_other_call(wf: Workflow, existing: RunRow, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> None:
    """Say so when an existing run is returned for other arguments or other code."""
    fresh = ("start a fresh run with another run_id (in a notebook: another --id), or keep "
             "this one")
    try:
        asked = encode({"args": list(args), "kwargs": kwargs}, where="the input")
    except SerializationError:
        asked = None
    if asked is not None and existing.input is not None and json.loads(asked) != json.loads(
            existing.input):
        warnings.warn(PyWorkflowWarning(
            f"run {existing.run_id!r} of {wf.name!r} already exists with input "
            f"{existing.input}, not {asked}: this returns that run and its result; {fresh}"),
            stacklevel=2)
    elif existing.version is not None and existing.version != wf.version and not (
            existing.finished):
        warnings.warn(PyWorkflowWarning(
            f"run {existing.run_id!r} of {wf.name!r} was started by other code (version "
            f"{existing.version}, now {wf.version}): it goes on where it is, and fails with "
            f"NonDeterminismError if the edit no longer fits its history; {fresh}"),
            stacklevel=2)


def check_run_id(run_id: Any) -> None:
    """Refuse a run id no store can key a run by."""
    if not isinstance(run_id, str) or not run_id or len(run_id) > 200:
        raise InvalidInput(f"run_id must be a non-empty string, got {run_id!r}")


def _check_reason(reason: Any, action: str) -> None:
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput(f"{action}(reason=...) must be a string or None, got {reason!r}")


def _encode_input(wf: Workflow, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The run's input as JSON; an argument no store can hold is named in the error."""
    try:
        return encode({"args": list(args), "kwargs": kwargs},
                      where=f"the input of workflow {wf.name!r}")
    except SerializationError:
        named = [(f"argument {i + 1}", a) for i, a in enumerate(args)]
        named += [(f"argument {k}=", v) for k, v in kwargs.items()]
        for label, value in named:
            encode(value, where=f"{label} of workflow {wf.name!r}")  # raises for the culprit
        raise


class Engine:
    """Runs workflows durably against an event store."""

    def __init__(self, store: EventStore, loop: asyncio.AbstractEventLoop, *,
                 durability: Durability = "sync", clock: Clock | None = None,
                 definitions: Registry = registry,
                 step_executor: StepExecutor | None = None, executor: Executor = "here",
                 worker: bool = False) -> None:
        """``executor``: where runs started here execute by default (``"workers"``: worker
        processes of a shared store take them); ``worker``: this engine takes such runs."""
        self.store = store
        self.executor: Executor = executor
        self.worker = worker
        self.loop = loop
        self.clock = clock or Clock()
        self.metrics = EngineMetrics()
        self.writer = Writer(store, loop, durability=durability,
                             on_commit=self.metrics.committed)
        self.timers = Timers(loop, self.clock, on_lag=self.metrics.timer_lag)
        self.scheduler = Scheduler(self)
        self.registry = definitions
        self.runs: dict[str, Run] = {}
        self.listeners: list[EventListener] = []
        self.status_listeners: list[StatusListener] = []  # status changes no event shows
        self.closing = False
        self.step_executor = step_executor or LocalStepExecutor()
        self._recovery: asyncio.Future[None] | None = None  # set while recover() loads runs
        self._loaded = False  # recover() read the store's unfinished runs
        self.dormancy = Dormancy(self)
        shared = store if isinstance(store, SharedStore) and not store.read_only else None
        self.leases = Leases(self, shared) if shared is not None else None
        self.inbox = Inbox(self, shared) if shared is not None else None
        self._known_versions = store.known_versions() if not store.read_only else set()
        self._recent: OrderedDict[str, tuple[RunRow, BaseException | None]] = OrderedDict()
        # recovered runs that ended before replaying their history (e.g. NonDeterminismError):
        # recover() still reports them, however quickly they failed
        self._ended_in_replay: dict[str, Run] = {}
        for definition in list(definitions.seen.values()):
            self._record_definition(definition)
        definitions.subscribe(self._on_definition)

    # -- definitions ---------------------------------------------------------------------------

    def _record_definition(self, definition: Definition) -> None:
        key = (definition.name, definition.version)
        if key in self._known_versions or self.store.read_only:
            return
        self._known_versions.add(key)
        kind = "workflow" if isinstance(definition, Workflow) else "step"
        self.writer.definition(DefinitionRow(definition.name, definition.version, kind,
                                             definition.module, definition.source,
                                             self.clock.now()))

    def _on_definition(self, definition: Definition) -> None:
        if self.closing:
            return
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._defined, definition)

    def _defined(self, definition: Definition) -> None:
        if self.closing:
            return
        self._record_definition(definition)
        if isinstance(definition, Workflow):
            for run in list(self.runs.values()):
                if run.task is None and run.row.workflow == definition.name:
                    self._resume(run, definition)

    # -- starting ------------------------------------------------------------------------------

    async def start(self, workflow: Workflow | str, args: tuple[Any, ...] = (),
                    kwargs: dict[str, Any] | None = None, *, run_id: str | None = None,
                    idempotency_key: str | None = None, parent_run_id: str | None = None,
                    schedule_id: str | None = None, scheduled_at: float | None = None,
                    continued_from: str | None = None, executor: str | None = None) -> RunRow:
        """Start a run, or return the existing one with this ``run_id``/idempotency key.

        With ``durability="sync"`` it returns once the start is durable: starts made meanwhile
        (``asyncio.gather``) share that write.
        """
        row = self.start_now(workflow, args, kwargs, run_id=run_id,
                             idempotency_key=idempotency_key, parent_run_id=parent_run_id,
                             schedule_id=schedule_id, scheduled_at=scheduled_at,
                             continued_from=continued_from, executor=executor)
        if self.writer.sync:
            await self.writer.durable()
        return row

    def check_start(self, workflow: Workflow | str, args: tuple[Any, ...],
                    kwargs: dict[str, Any], executor: str | None = None) -> Workflow:
        """Refuse a start of a new run that :meth:`start_now` would refuse, from any thread:
        an unknown workflow, arguments its signature does not take, an input that cannot be
        stored, a read-only store, an executor this store has not."""
        self.require_writable("start a run")
        self._executor(executor)
        wf = self._resolve(workflow)
        check_call(wf, args, kwargs)
        _encode_input(wf, args, kwargs)
        return wf

    def start_now(self, workflow: Workflow | str, args: tuple[Any, ...] = (),
                  kwargs: dict[str, Any] | None = None, *, run_id: str | None = None,
                  idempotency_key: str | None = None, parent_run_id: str | None = None,
                  schedule_id: str | None = None, scheduled_at: float | None = None,
                  continued_from: str | None = None, new_run_id: str | None = None,
                  executor: str | None = None) -> RunRow:
        """:meth:`start` without a loop turn (on the engine's loop), so what the caller
        records in the same turn goes into the same commit as the run's start.

        ``new_run_id``: the id for the new run when ``run_id`` is not given, made by the
        caller (so it is not looked up). ``executor="workers"`` records the start and leaves
        the run to the worker processes of a shared store."""
        self.require_writable("start a run")
        for_workers = self._executor(executor) == "workers" and parent_run_id is None
        wf = self._resolve(workflow)
        kwargs = kwargs or {}
        existing = self._existing(wf.name, run_id, idempotency_key)
        if existing is not None:
            _warn_if_other_call(wf, existing, args, kwargs)
            return existing
        check_call(wf, args, kwargs)
        run_id = run_id or new_run_id or uuid.uuid4().hex[:12]
        input_json = _encode_input(wf, args, kwargs)
        now = self.clock.now()
        row = RunRow(run_id, wf.name, wf.version, ev.PENDING if for_workers else ev.RUNNING,
                     input_json, parent_run_id=parent_run_id, schedule_id=schedule_id,
                     scheduled_at=scheduled_at, idempotency_key=idempotency_key,
                     created_at=now, started_at=None if for_workers else now, updated_at=now,
                     continued_from=continued_from)
        run = Run(self, row, None, tuple(args), kwargs)
        self.runs[run_id] = run
        self.writer.run_created(row)
        run.emit(ev.WORKFLOW_STARTED, None, None, ev.workflow_started(
            wf.name, wf.version, parent_run_id, schedule_id, input_json))
        if for_workers:
            del self.runs[run_id]
            self.writer.for_workers(run_id)
            return row
        run.begin(wf)
        return row

    def _executor(self, executor: str | None) -> Executor:
        """Where a run starts: ``executor`` if given, else this engine's default."""
        chosen = self.executor if executor is None else executor
        if chosen not in ("here", "workers"):
            raise InvalidInput(f'executor must be "here" or "workers", got {executor!r}')
        if chosen == "workers" and self.inbox is None:
            raise InvalidInput(
                f'executor="workers" needs a store that worker processes share (a '
                f'postgresql:// URL), not {self.store.path}; run the workflow here, or '
                'pw.configure(store="postgresql://...")')
        return "workers" if chosen == "workers" else "here"

    def _resolve(self, workflow: Workflow | str) -> Workflow:
        if isinstance(workflow, Workflow):
            return workflow
        if isinstance(workflow, str):
            wf = self.registry.workflow(workflow)
            if wf is not None:
                return wf
            known = ", ".join(sorted(self.registry.workflows)) or "none yet"
            raise InvalidInput(
                f"no workflow named {workflow!r} is defined (defined: {known}); run the cell "
                "or import the module that defines it with @pw.workflow")
        raise InvalidInput(
            f"expected a @pw.workflow function or a workflow name, got {workflow!r}; decorate "
            "the function with @pw.workflow")

    def defined_workflow(self, row: RunRow, action: str) -> Workflow:
        """The definition of ``row``'s workflow, which ``action`` on the run needs."""
        workflow = self.registry.workflow(row.workflow)
        if workflow is None:
            raise InvalidInput(f"cannot {action} run {row.run_id!r}: its workflow "
                               f"{row.workflow!r} is not defined; run the cell that defines it "
                               "first")
        return workflow

    def adopt(self, run: Run, workflow: Workflow | None, events: Iterable[EventRow] = (), *,
              new_row: bool, copied: Iterable[EventRow] = ()) -> Awaitable[None]:
        """Take in a run made outside :meth:`start` (a retry, a fork, a restart): keep it,
        write its row, the ``copied`` history (another run's, not counted in the metrics)
        and its ``events``, and begin it (or let it wait for its definition).
        Returns the wait for its durable point."""
        self._recent.pop(run.run_id, None)
        self.runs[run.run_id] = run
        if new_row:
            self.writer.run_created(run.row)
        else:
            self.writer.run_changed(run.row)
        for event in copied:
            self.record(event, counted=False)
        for event in events:
            self.record(event)
        if workflow is None:
            run.set_status(ev.WAITING_FOR_DEFINITION)
        else:
            run.begin(workflow)
        return run.durable()

    def _existing(self, workflow: str, run_id: str | None,
                  idempotency_key: str | None) -> RunRow | None:
        if run_id is not None:
            check_run_id(run_id)
            run = self.runs.get(run_id)
            row = run.row if run is not None else self.store.get_run(run_id)
            if row is not None:
                if row.workflow != workflow:
                    raise InvalidInput(
                        f"run id {run_id!r} already belongs to a run of workflow "
                        f"{row.workflow!r}, not {workflow!r}; choose another run_id")
                return row
        if idempotency_key is not None:
            for run in self.runs.values():
                if run.row.idempotency_key == idempotency_key and run.row.workflow == workflow:
                    return run.row
            return self.store.find_run(workflow, idempotency_key)
        return None

    # -- recovery ------------------------------------------------------------------------------

    async def recover(self) -> list[RunRow]:
        """Resume every unfinished run of the store (of a shared store: those it can lease).

        Returns the rows of the unfinished runs that came from the store (this call's and
        earlier ones', dormant ones too), once each has replayed its history up to where it is
        live again, and of those that ended before they got there (their code no longer
        matches their history). The store is read once: after that, every unfinished run is
        in memory (this engine is its only writer), except in a shared store, where
        :class:`Leases` takes over more runs as their processes stop.
        """
        if self.store.read_only:  # inspecting a store resumes nothing and writes nothing
            return []
        await self.wait_recovered()
        self._recovery = self.loop.create_future()
        try:
            await self.writer.flush()
            if not self._loaded:
                with collector.paused():  # the rows read are as many objects to keep
                    self.adopt_stored(
                        self.store.unfinished_histories() if self.leases is None
                        else self.leases.claim(CLAIM_BATCH if self.worker else None))
            self._loaded = True
        finally:
            self._recovery.set_result(None)
            self._recovery = None
        recovered = [r for r in self.runs.values() if r.recovered]
        if self.leases is not None:
            self.scheduler.leading = self.leases.store.hold_role(SCHEDULER_ROLE)
        self.scheduler.start()
        if self.leases is not None:
            self.leases.start()
        return [*(r.row for r in recovered),
                *(d.row for d in self.dormancy.runs.values() if d.recovered),
                *(r.row for r in self._ended_in_replay.values() if r not in recovered)]

    def adopt_stored(self, histories: list[tuple[RunRow, list[EventRow]]]) -> None:
        """Resume runs read from the store (recovered, or taken over from a process that
        stopped), each from its history; runs this engine already holds are skipped."""
        with collector.paused():
            for row, events in histories:
                if row.run_id in self.runs or row.run_id in self.dormancy.runs:
                    continue
                run = Run.from_store(self, row, events)
                run.recovered = True
                self.runs[row.run_id] = run
                self.metrics.recovered(row.workflow)
                workflow = self.registry.workflow(row.workflow)
                if workflow is None:
                    run.set_status(ev.WAITING_FOR_DEFINITION)
                else:
                    self._resume(run, workflow)
        if histories and self.inbox is not None:
            self.inbox.drain_soon()  # messages sent while no process held them

    async def wait_recovered(self) -> None:
        """Wait for a recovery under way, so no call sees a half-loaded engine."""
        while self._recovery is not None:
            await asyncio.shield(self._recovery)

    def _resume(self, run: Run, workflow: Workflow) -> None:
        run.row.status = ev.PAUSED if run.paused else ev.RUNNING
        run.row.updated_at = self.clock.now()
        run.row.started_at = run.row.started_at or run.row.updated_at  # left for workers
        self.writer.run_changed(run.row)
        run.begin(workflow)

    # -- reading -------------------------------------------------------------------------------

    def get_row(self, run_id: str) -> RunRow:
        row = self._row_in_memory(run_id) or self.store.get_run(run_id)
        if row is None:
            raise RunNotFound(run_id, self.store.path)
        return row

    async def read_row(self, run_id: str) -> RunRow:
        """:meth:`get_row` for the loop: a shared store is read on a worker thread, as a
        round trip to its server the loop must not wait for."""
        if self.inbox is None:
            return self.get_row(run_id)
        row = self._row_in_memory(run_id) or await self.loop.run_in_executor(
            None, self.store.get_run, run_id)
        if row is None:
            raise RunNotFound(run_id, self.store.path)
        return row

    def _row_in_memory(self, run_id: str) -> RunRow | None:
        run = self.runs.get(run_id)
        if run is not None:
            return run.row
        dormant = self.dormancy.row(run_id)
        if dormant is not None:
            return dormant
        recent = self._recent.get(run_id)
        return None if recent is None else recent[0]

    def events(self, run_id: str) -> list[EventRow]:
        """A run's events, committed or about to be (read on the loop thread, where the
        writer knows every batch not in the store yet)."""
        self.get_row(run_id)
        return self.on_loop(
            lambda: self.writer.history(run_id))

    def live_run(self, run_id: str) -> Run | None:
        """The run in memory, rebuilt first if it is dormant; ``None`` once it ended
        (loop thread)."""
        return self.runs.get(run_id) or self.dormancy.wake(run_id)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on the engine's loop thread, its value (or error) returned here.

        Reads that must see the engine between two of its steps (a run's events plus a
        listener registered after them) go through this from other threads.
        """
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        if here or not self.loop.is_running():
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return done.result()

    # -- acting on runs ------------------------------------------------------------------------

    async def result(self, run_id: str, timeout: float | None = None, *,
                     follow: bool = True) -> Any:
        """The run's result (following a continued run's chain to its last run unless
        ``follow`` is False); raises WorkflowFailed / WorkflowCancelled / TimeoutError."""
        await self.wait_recovered()
        deadline = None if timeout is None else self.loop.time() + timeout
        while True:
            run = self.runs.get(run_id)
            done = run.done if run is not None else self.dormancy.done(run_id)
            if done is not None:
                left = None if deadline is None else max(deadline - self.loop.time(), 0)
                try:
                    await asyncio.wait_for(asyncio.shield(done), left)
                except asyncio.TimeoutError:
                    raise TimeoutError(
                        f"run {run_id!r} did not finish within {timeout} s; it keeps running"
                    ) from None
            row = await self.read_row(run_id)
            if not row.finished and (run_id in self.runs or run_id in self.dormancy.runs):
                continue  # restarted meanwhile: the same run
            if done is None and self.elsewhere(row):  # another process executes it
                if deadline is not None and self.loop.time() >= deadline:
                    raise TimeoutError(f"run {run_id!r} did not finish within {timeout} s; it "
                                       "keeps running in another process")
                await asyncio.sleep(ELSEWHERE_POLL)
                continue
            if not (follow and row.status == ev.CONTINUED):
                return self._outcome(row)
            run_id = decode(row.result)

    def _outcome(self, row: RunRow) -> Any:
        if row.status == ev.CONTINUED:
            next_run_id = decode(row.result)
            raise WorkflowContinued(f"run {row.run_id!r} of {row.workflow!r} continued as run "
                                    f"{next_run_id!r}", run_id=row.run_id,
                                    next_run_id=next_run_id)
        if row.status == ev.COMPLETED:
            return decode(row.result)
        if row.status in (ev.CANCELLED, ev.TERMINATED):
            reason = json.loads(row.error).get("message") if row.error else None
            said = f"run {row.run_id!r} of {row.workflow!r} was {row.status}" + (
                f": {reason}" if reason else "")
            if row.status == ev.CANCELLED:
                raise WorkflowCancelled(said, run_id=row.run_id)
            raise WorkflowTerminated(said, run_id=row.run_id, reason=reason)
        if row.status == ev.FAILED:
            recent = self._recent.get(row.run_id)
            cause = recent[1] if recent is not None else None
            error = json.loads(row.error) if row.error else {}
            if cause is None:
                cause = self._stored_failure(row.run_id) or decode_error(error)
            step = error.get("step")
            where = f" in step {step}" if step else ""
            raise WorkflowFailed(
                f"run {row.run_id!r} of {row.workflow!r} failed{where}: "
                f"{error.get('type', 'Error')}: {error.get('message', '')}",
                run_id=row.run_id, step=step, error=error) from cause
        raise PyWorkflowError(f"run {row.run_id!r} is {row.status}, not finished")

    def _stored_failure(self, run_id: str) -> BaseException | None:
        for event in reversed(self.store.load_events(run_id)):
            if event[3] == ev.WORKFLOW_FAILED and event[6]:
                return decode_error(ev.parse(event[6])["error"])
        return None

    async def send_event(self, run_id: str, name: str, payload: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"an event name must be a non-empty string, got {name!r}")
        self.require_writable("send an event")
        await self.wait_recovered()
        payload_json = encode(payload, where=f"the payload of event {name!r}")
        if await self._posted("event", run_id, name, payload_json):
            return
        run = self.live_run(run_id)
        if run is None:
            row = await self.read_row(run_id)
            raise InvalidInput(
                f"run {run_id!r} is {row.status}; events can only be sent to unfinished runs")
        ts = run.emit(ev.EVENT_RECEIVED, None, None, ev.event_received(name, payload_json))
        seq = run.seq
        await self.writer.durable()
        run.receive(name, payload, seq, ts)

    async def signal(self, run_id: str, name: str, args: tuple[Any, ...] = ()) -> None:
        """Record signal ``name`` for a run in flight; its handler gets it at an activation."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a signal name must be a non-empty string, got {name!r}")
        args_json = encode(list(args), where=f"the arguments of signal {name!r}")
        self.require_writable(f"signal {name!r} to a run")
        await self.wait_recovered()
        if await self._posted("signal", run_id, name, args_json):
            return
        run = await self._in_flight(run_id, f"signal {name!r} to")
        ts = run.emit(ev.SIGNAL_RECEIVED, None, None, ev.signal_received(name, args_json))
        seq = run.seq
        await self.writer.durable()
        run.receive_signal(name, tuple(args), seq, ts)

    async def update(self, run_id: str, name: str, args: tuple[Any, ...] = (),
                     update_id: str | None = None, *, wait: bool = True) -> Any:
        """Send update ``name`` to a run in flight and return what its handler returns.

        The validator runs first (a refusal is recorded and raised as ``UpdateRejected``);
        an ``update_id`` the run already accepted is answered with that update's outcome.
        A run another process executes gets it through the store, and the answer comes back
        from the events it records. ``wait=False`` returns once the update is accepted.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"an update name must be a non-empty string, got {name!r}")
        if update_id is None:
            update_id = uuid.uuid4().hex[:12]
        elif not isinstance(update_id, str) or not update_id.strip():
            raise InvalidInput(f"update_id must be a non-empty string, got {update_id!r}")
        args_json = encode(list(args), where=f"the arguments of update {name!r}")
        self.require_writable(f"update {name!r} on a run")
        await self.wait_recovered()
        if await self._posted("update", run_id, name,
                              json.dumps({"args": args_json, "update_id": update_id})):
            return await self._answer_from_elsewhere(run_id, name, update_id)
        run = await self._in_flight(run_id, f"update {name!r} on")
        known = run.updates.get(update_id)
        if known is None:
            if run.task is None:
                raise InvalidInput(f"run {run_id!r} waits for its workflow's definition, so "
                                   "no update handler is set yet; run the defining cell first")
            try:
                run.admit_update(update_id, name, args)
            except UpdateRejected:
                await self.writer.durable()
                raise
            known = run.outcome_of(update_id)
            ts = run.emit(ev.UPDATE_ACCEPTED, update_id, None,
                          ev.update_accepted(name, args_json))
            await self.writer.durable()
            run.receive_update(update_id, name, tuple(args), ts)
        if not wait:
            return None
        return await asyncio.shield(known)

    async def _answer_from_elsewhere(self, run_id: str, name: str, update_id: str) -> Any:
        """The outcome of an update handed to another process, read from the run's events."""
        seen = -1
        while True:
            events = await self.loop.run_in_executor(None, self.store.load_events, run_id, seen)
            seen = events[-1][1] if events else seen
            for event in events:
                if event[4] != update_id or event[3] not in _UPDATE_ENDS:
                    continue
                data = ev.parse(event[6])
                if event[3] == ev.UPDATE_COMPLETED:
                    return ev.recorded_value(data)
                cause = decode_error(data["error"])
                if isinstance(cause, InvalidInput):  # as it is raised here: no such handler
                    raise InvalidInput(str(cause))
                kind = UpdateRejected if event[3] == ev.UPDATE_REJECTED else UpdateFailed
                said = "was refused" if kind is UpdateRejected else "failed"
                raise kind(f"update {name!r} of run {run_id!r} {said}: {cause}",
                           run_id=run_id, update_id=update_id) from cause
            row = await self.loop.run_in_executor(None, self.store.get_run, run_id)
            if row is None or row.status in ev.TERMINAL_STATUSES:
                raise UpdateFailed(f"run {run_id!r} ended ({row.status if row else 'gone'}) "
                                   f"before update {update_id!r} finished", run_id=run_id,
                                   update_id=update_id)
            await asyncio.sleep(ELSEWHERE_POLL)

    async def query(self, run_id: str, name: str, args: tuple[Any, ...] = ()) -> Any:
        """Answer query ``name`` from the run's state; a run not in memory is replayed first."""
        await self.wait_recovered()
        run = self.runs.get(run_id)
        if run is not None and run.task is not None:
            return run.answer_query(name, args)
        workflow = self.defined_workflow(await self.read_row(run_id), "query")
        stored = None
        if self.inbox is not None:  # a shared store: read off the loop
            stored = await self.loop.run_in_executor(None, self.store.load_events, run_id)
        return query_history(workflow, self.writer.history(run_id, stored), name, args)

    async def cancel(self, run_id: str, reason: str | None = None) -> None:
        _check_reason(reason, "cancel")
        self.require_writable("cancel a run")
        await self.wait_recovered()
        if await self._posted("cancel", run_id, None, encode(reason)):
            return
        run = self.live_run(run_id)
        if run is None:
            await self.read_row(run_id)
            return
        if run.cancel_requested or run.terminating:
            return
        if run.paused:  # the cancel's cleanup may need to start steps
            run.resume()
        ts = run.emit(ev.WORKFLOW_CANCEL_REQUESTED, None, None, ev.with_reason(reason))
        if run.task is None:  # not begun (its workflow is not defined): it ends here
            run.cancel_requested = True
            await self.writer.durable()
            await run.finish(Ending(ev.CANCELLED, reason=reason))
        else:
            run.request_cancel(ts, reason)
            await self.writer.durable()

    async def pause(self, run_id: str) -> None:
        """Hold back new work of a run in flight until :meth:`resume` (see ``Pausing``)."""
        self.require_writable("pause a run")
        if await self._posted("pause", run_id):
            return
        run = await self._in_flight(run_id, "pause")
        if not (run.paused or run.terminating):
            run.pause()
            await self.writer.durable()

    async def resume(self, run_id: str) -> None:
        """Let a paused run go on; a run that is not paused is left as it is."""
        self.require_writable("resume a run")
        if await self._posted("resume", run_id):
            return
        run = await self._in_flight(run_id, "resume")
        if run.paused and not run.terminating:
            run.resume()
            await self.writer.durable()

    async def _in_flight(self, run_id: str, action: str) -> Run:
        self.require_writable(f"{action} a run")
        await self.wait_recovered()
        run = self.live_run(run_id)
        if run is None:
            row = await self.read_row(run_id)
            raise InvalidInput(f"cannot {action} run {run_id!r}: it already ended "
                               f"({row.status})")
        return run

    def elsewhere(self, row: RunRow) -> bool:
        """Whether another process executes this unfinished run: in a shared store, one not
        here (or none does yet, until a process defining its workflow takes it over)."""
        return (self.inbox is not None and row.status not in ev.TERMINAL_STATUSES
                and row.run_id not in self.runs and row.run_id not in self.dormancy.runs)

    async def _posted(self, kind: str, run_id: str, name: str | None = None,
                      data: str | None = None) -> bool:
        """Whether the run is another process's: then the message is stored in the shared
        store's inbox (durably, before this returns) for that process to apply."""
        if self.inbox is None or self.live_run(run_id) is not None:
            return False
        row = await self.read_row(run_id)
        if not self.elsewhere(row):
            return False
        await self.loop.run_in_executor(None, self.inbox.store.post, run_id, kind, name, data)
        return True

    async def terminate(self, run_id: str, reason: str | None = None) -> None:
        """End a run in flight at once (see ``Run.terminate``); refused for a finished run."""
        _check_reason(reason, "terminate")
        self.require_writable("terminate a run")
        if await self._posted("terminate", run_id, None, encode(reason)):
            return
        run = await self._in_flight(run_id, "terminate")
        if not run.terminating:
            await run.terminate(reason)

    async def purge(self, *, older_than: float, status: str | None = None,
                    workflow: str | None = None) -> int:
        """Delete finished runs older than ``older_than`` seconds; returns how many."""
        if status is not None and status not in ev.TERMINAL_STATUSES:
            finished = ", ".join(sorted(ev.TERMINAL_STATUSES))
            raise InvalidInput(f"purge removes finished runs only: status must be one of "
                               f"{finished}, got {status!r}")
        self.require_writable("purge runs")
        await self.writer.flush()
        statuses = sorted(ev.TERMINAL_STATUSES) if status is None else [status]
        purged = self.store.purge(statuses, self.clock.now() - older_than, workflow)
        for run_id in purged:
            self._recent.pop(run_id, None)
        return len(purged)

    async def close_children(self, parent: Run) -> None:
        """Apply each child's ``parent_close`` policy once ``parent`` has ended."""
        for child_id, policy in parent.children.items():
            child = self.runs.get(child_id)
            if child is None or policy == "abandon":
                continue
            reason = f"its parent run {parent.run_id!r} ended ({parent.row.status})"
            if policy == "terminate":
                await self.terminate(child_id, reason)
            else:
                await self.cancel(child_id, reason)

    def forget(self, run_id: str) -> None:
        """Drop what memory holds of a finished run and its child runs (their rows moved)."""
        for known in (self._recent, self._ended_in_replay):
            for key in [k for k in known if k == run_id or k.startswith(f"{run_id}/")]:
                del known[key]

    def finished(self, run: Run, exc: BaseException | None) -> None:
        """Called by a run once its final event is recorded."""
        self.runs.pop(run.run_id, None)
        if run.recovered and run.ended_replaying:
            self._ended_in_replay[run.run_id] = run
        self._recent[run.run_id] = (run.row, exc)
        if len(self._recent) > _RECENT_LIMIT:
            self._recent.popitem(last=False)
        if run.row.schedule_id is not None:
            self.scheduler.run_ended(run.row.schedule_id, run.run_id)
        if self.leases is not None:
            self.leases.run_ended()
        if not run.done.done():
            run.done.set_result(None)

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` at the call when the store is open read-only."""
        if self.store.read_only:
            raise InvalidInput(
                f"cannot {action}: the store {self.store.path} is open read-only "
                "(pw.configure(read_only=True)), so nothing can be recorded. Reopen it with "
                "pw.configure(store=..., read_only=False) once no other process writes it.")

    def record(self, event: EventRow, *, counted: bool = True) -> None:
        """Append one event to the writer, count it in the metrics (unless it is a copy of
        another run's) and show it to the listeners."""
        self.writer.event(event)
        if counted:
            run = self.runs.get(event[0])
            if run is not None:
                self.metrics.event(event, run.row.workflow, run.row.started_at)
        if self.listeners:
            for listener in list(self.listeners):
                listener(event)

    def status_changed(self, row: RunRow) -> None:
        """Tell the status listeners that a live run's status changed."""
        for listener in list(self.status_listeners):
            listener(row)

    def metric_samples(self) -> list[Sample]:
        """The metrics now, with the gauges read from the engine's state (loop thread)."""
        live: dict[str, int] = {}
        for row in [*(run.row for run in self.runs.values()), *self.dormancy.rows()]:
            live[row.status] = live.get(row.status, 0) + 1
        gauges: list[tuple[Family, tuple[str, ...], float]] = [
            (RUNS_LIVE, (status,), float(n)) for status, n in live.items()]
        gauges.append((TIMERS_PENDING, (), float(self.timers.pending())))
        return self.metrics.samples(gauges)

    @property
    def settled(self) -> bool:
        """Nothing moves until time passes or a call arrives: what ``pw.skip`` waits for."""
        return (self.writer.idle and not self.scheduler.busy and self._recovery is None
                and not self.dormancy.busy
                and all(run.settled for run in self.runs.values()))

    # -- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop every run where it is (they resume on the next start) and flush the store."""
        self.closing = True
        self.registry.unsubscribe(self._on_definition)
        self.scheduler.close()
        works = [work for run in list(self.runs.values()) for work in run.stop()]
        await asyncio.gather(*works, return_exceptions=True)
        self.dormancy.close()
        self.timers.close()
        try:
            await self.writer.flush()
        finally:
            if self.inbox is not None:
                self.inbox.close()
            if self.leases is not None:
                await self.leases.close()
            self.writer.close()
            self.step_executor.shutdown()
