"""Schedules: start a workflow on a cron expression or a fixed interval.

``pw.schedule(wf, cron=...)`` creates the schedule, or updates it when the cell runs again
with another spec (the id defaults to the workflow's name, so re-running never duplicates
it). As a decorator (``@pw.schedule(...)`` above ``@pw.workflow``) it declares the schedule
when the definition runs; if the engine has not started yet, the schedule is applied when it
starts. Every call here blocks until the change is committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

from .client import RunHandle
from .definitions import Definition, Workflow, registry
from .displays import views
from .durations import DurationLike, iso_utc, parse_duration, parse_instant
from .engine import Engine
from .engine.scheduler import Schedule, Scheduler, ScheduleSpec, pending
from .errors import InvalidInput
from .runtime import runtime
from .serde import decode, encode

T = TypeVar("T")
Instant = datetime | str | float


def _spec(*, cron: str | None = None, every: DurationLike | None = None,
          timezone: str = "UTC", overlap: str = "skip", catchup: str = "latest",
          jitter: DurationLike | None = None, start_at: Instant | None = None,
          end_at: Instant | None = None) -> ScheduleSpec:
    return ScheduleSpec(
        cron=cron,
        every=None if every is None else parse_duration(every, what="schedule every="),
        timezone=timezone, overlap=overlap, catchup=catchup,
        jitter=0.0 if jitter is None else parse_duration(jitter, what="schedule jitter"),
        start_at=None if start_at is None else parse_instant(start_at, what="start_at"),
        end_at=None if end_at is None else parse_instant(end_at, what="end_at"))


def _input(name: str, args: Sequence[Any], kwargs: dict[str, Any] | None) -> str:
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise InvalidInput(f"schedule args must be a list of arguments, got {args!r}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise InvalidInput(f"schedule kwargs must be a dict, got {kwargs!r}")
    return encode({"args": list(args), "kwargs": kwargs or {}},
                  where=f"the arguments of the schedule of {name!r}")


def _on_engine(fn: Callable[[Engine], Any]) -> Any:
    """Run ``fn(engine)`` on the engine's loop and wait until its writes are committed."""

    async def call(engine: Engine) -> Any:
        if engine.scheduler.started_at is None:
            await engine.recover()  # loads the schedules once unfinished runs are known
        value = fn(engine)
        if isinstance(value, Awaitable):
            value = await value
        await engine.writer.flush()
        return value

    return runtime.call_sync(call)


class ScheduleHandle:
    """One schedule: inspect it, pause or resume it, fire it, backfill it, change it."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id

    def _state(self) -> Schedule:
        return _on_engine(lambda e: e.scheduler.get(self.schedule_id))  # type: ignore[no-any-return]

    def status(self) -> str:
        """``active`` or ``paused``."""
        return self._state().row.status

    def describe(self, upcoming: int = 5) -> dict[str, Any]:
        """The schedule's spec and state, its next fire times and its last runs."""
        sched = self._state()
        row = sched.row
        engine = runtime.ensure()
        last_runs = [{"run_id": r, "status": s, "scheduled_at": iso_utc(at) if at else None}
                     for r, s, at in engine.store.schedule_runs(self.schedule_id, 5)]
        payload = decode(row.input) or {}
        return {
            "schedule_id": row.schedule_id, "workflow": row.workflow, "status": row.status,
            "note": row.note, **{k: v for k, v in vars(sched.spec).items()},
            "args": payload.get("args", []), "kwargs": payload.get("kwargs", {}),
            "next_fire_times": [iso_utc(t) for t in sched.upcoming(upcoming)]
            if row.status == "active" else [],
            "fire_count": row.fire_count, "last_fire_at":
            iso_utc(row.last_fire_at) if row.last_fire_at else None,
            "running": sorted(sched.active), "buffered": [iso_utc(t) for t in sched.buffered],
            "last_runs": last_runs,
        }

    def pause(self, note: str | None = None) -> None:
        """Stop firing until :meth:`resume`; fires due meanwhile are skipped."""
        _on_engine(lambda e: e.scheduler.set_status(self.schedule_id, "paused", note))

    def resume(self, note: str | None = None) -> None:
        """Fire again from the next due time after now."""
        _on_engine(lambda e: e.scheduler.set_status(self.schedule_id, "active", note))

    def trigger(self) -> RunHandle:
        """Start a run now (even when paused; the overlap policy does not apply)."""

        async def fire(engine: Engine) -> str:
            run_id = engine.scheduler.trigger(self.schedule_id)
            await engine.scheduler.wait_started()
            return run_id

        return RunHandle(_on_engine(fire))

    def backfill(self, start: Instant, end: Instant) -> list[RunHandle]:
        """Start a run for every fire time in ``[start, end]`` (both included).

        Fire times already run (by the schedule or an earlier backfill) are not run twice.
        """
        first = parse_instant(start, what="backfill start")
        last = parse_instant(end, what="backfill end")

        async def fill(engine: Engine) -> list[str]:
            run_ids = engine.scheduler.backfill(self.schedule_id, first, last)
            await engine.scheduler.wait_started()
            return run_ids

        return [RunHandle(r) for r in _on_engine(fill)]

    def update(self, *, args: Sequence[Any] | None = None,
               kwargs: dict[str, Any] | None = None, **changes: Any) -> ScheduleHandle:
        """Change the spec (``cron=``, ``every=``, ``overlap=``, ...) or the arguments."""
        sched = self._state()
        spec = dict(vars(sched.spec))
        if "cron" in changes or "every" in changes:
            spec["cron"] = spec["every"] = None
        for key, value in changes.items():
            if key not in spec:
                raise InvalidInput(f"unknown schedule setting {key!r}: use one of "
                                   + ", ".join(["args", "kwargs", *spec]))
            spec[key] = value
        new = _spec(**spec)
        payload = decode(sched.row.input) or {}
        input_json = _input(sched.row.workflow,
                            payload.get("args", []) if args is None else args,
                            payload.get("kwargs", {}) if kwargs is None else kwargs)
        _on_engine(lambda e: e.scheduler.update(self.schedule_id, new, input_json=input_json))
        return self

    def delete(self) -> None:
        """Remove the schedule; runs it started keep running."""
        _on_engine(lambda e: e.scheduler.delete(self.schedule_id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleHandle) and other.schedule_id == self.schedule_id

    def __hash__(self) -> int:
        return hash(self.schedule_id)

    def _repr_html_(self) -> str:
        return views["schedules_html"]([self.describe()])  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        try:
            sched = self._state()
        except InvalidInput:
            return f"<ScheduleHandle {self.schedule_id} (deleted)>"
        when = sched.spec.cron or f"every {sched.spec.every:g}s"
        nxt = sched.row.next_fire_at
        return (f"<ScheduleHandle {self.schedule_id} {when} workflow={sched.row.workflow} "
                f"status={sched.row.status} next={iso_utc(nxt) if nxt else None}>")


W = TypeVar("W", bound=Workflow)


@overload
def schedule(workflow: None = None, /, *, cron: str | None = ...,
             every: DurationLike | None = ...,
             args: Sequence[Any] = ..., kwargs: dict[str, Any] | None = ...,
             schedule_id: str | None = ..., overlap: str = ...,
             jitter: DurationLike | None = ..., catchup: str = ..., timezone: str = ...,
             start_at: Instant | None = ..., end_at: Instant | None = ...,
             paused: bool = ..., note: str | None = ...) -> Callable[[W], W]: ...
@overload
def schedule(workflow: Workflow | str, /, *, cron: str | None = ...,
             every: DurationLike | None = ...,
             args: Sequence[Any] = ..., kwargs: dict[str, Any] | None = ...,
             schedule_id: str | None = ..., overlap: str = ...,
             jitter: DurationLike | None = ..., catchup: str = ..., timezone: str = ...,
             start_at: Instant | None = ..., end_at: Instant | None = ...,
             paused: bool = ..., note: str | None = ...) -> ScheduleHandle: ...
def schedule(workflow: Workflow | str | None = None, /, *, cron: str | None = None,
             every: DurationLike | None = None, args: Sequence[Any] = (),
             kwargs: dict[str, Any] | None = None, schedule_id: str | None = None,
             overlap: str = "skip", jitter: DurationLike | None = None,
             catchup: str = "latest", timezone: str = "UTC",
             start_at: Instant | None = None, end_at: Instant | None = None,
             paused: bool = False, note: str | None = None) -> Any:
    """Start ``workflow`` on a cron expression (in ``timezone``) or ``every`` interval.

    ``overlap``: what a fire does while the previous run still runs (``"skip"``,
    ``"buffer_one"``, ``"buffer_all"``, ``"cancel_other"``, ``"allow"``). ``catchup``: what
    happens to fires missed while the engine was down (``"latest"`` runs the last one,
    ``"all"`` runs each, ``"none"`` skips them). ``jitter``: each fire waits a deterministic
    extra delay below this. The id defaults to the workflow's name; calling again with the
    same id updates the schedule. Without ``workflow``, returns a decorator.
    """
    spec = _spec(cron=cron, every=every, timezone=timezone, overlap=overlap, catchup=catchup,
                 jitter=jitter, start_at=start_at, end_at=end_at)

    def declare(wf: Workflow | str) -> ScheduleHandle | None:
        name = _workflow_name(wf)
        sid = schedule_id or name
        if not isinstance(sid, str) or not sid or "/" in sid or "@" in sid:
            raise InvalidInput(f"invalid schedule_id {sid!r}: use a non-empty string "
                               "without '/' or '@'")
        input_json = _input(name, args, kwargs)

        def apply(scheduler: Scheduler) -> Schedule:
            return scheduler.apply(sid, name, spec, input_json, paused=paused, note=note)

        if workflow is None and runtime.engine is None:
            pending.add(sid, apply)
            return None
        _on_engine(lambda e: apply(e.scheduler))
        return ScheduleHandle(sid)

    if workflow is None:
        def decorate(wf: W) -> W:
            declare(wf)
            return wf
        return decorate
    return declare(workflow)


def _workflow_name(wf: Any) -> str:
    if isinstance(wf, Workflow):
        return wf.name
    if isinstance(wf, str) and wf:
        return wf
    raise InvalidInput(f"pw.schedule needs a @pw.workflow (or a workflow name), got {wf!r}; "
                       "put @pw.schedule(...) above @pw.workflow")


def list_schedules() -> list[ScheduleHandle]:
    """Every schedule of the store, oldest first."""
    return [ScheduleHandle(sid) for sid in _on_engine(lambda e: e.scheduler.names())]


def get_schedule(schedule_id: str) -> ScheduleHandle:
    """The schedule with this id; raises ``InvalidInput`` naming the known ids."""
    _on_engine(lambda e: e.scheduler.get(schedule_id))
    return ScheduleHandle(schedule_id)


def schedule_option(definition: Definition) -> None:
    """Apply ``@pw.workflow(schedule=...)``: a cron string or a dict of ``schedule`` options."""
    if not isinstance(definition, Workflow) or definition.schedule is None:
        return
    wf, option = definition, definition.schedule
    if isinstance(option, str):
        schedule(cron=option)(wf)
    elif isinstance(option, dict):
        schedule(**option)(wf)
    else:
        raise InvalidInput(f"workflow {wf.name!r}: schedule= takes a cron expression or a "
                           f"dict of pw.schedule options, got {option!r}")


registry.subscribe(schedule_option)
