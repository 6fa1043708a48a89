"""pyworkflow's schedules over this engine's: ``create_schedule`` and the functions that read
and steer one, ``ScheduleSpec`` (cron, interval or calendar entries, timezone, start/end,
jitter), ``OverlapPolicy`` and ``@scheduled_workflow``. A spec with several calendar entries
is several engine schedules (``ID``, ``ID~2``, ...) behind one id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from ... import schedules as native
from ...durations import DurationLike, parse_duration
from ...errors import InvalidInput
from ...schedules import Instant
from ..schedule_parts import base_ids, blocking, create_parts, part_ids
from .definitions import native_of, workflow
from .errors import WorkflowError


class OverlapPolicy(Enum):
    """What a fire does while the schedule's previous run still runs."""

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"
    TERMINATE_OTHER = "terminate_other"
    ALLOW_ALL = "allow_all"


#: pyworkflow's overlap policies as this engine's (it has no terminate-other).
_OVERLAP = {OverlapPolicy.SKIP: "skip", OverlapPolicy.BUFFER_ONE: "buffer_one",
            OverlapPolicy.BUFFER_ALL: "buffer_all", OverlapPolicy.CANCEL_OTHER: "cancel_other",
            OverlapPolicy.ALLOW_ALL: "allow"}


class ScheduleStatus(Enum):
    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


class ScheduleNotFoundError(WorkflowError):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"Schedule not found: {schedule_id}")
        self.schedule_id = schedule_id


@dataclass(frozen=True)
class CalendarSpec:
    """A calendar fire time: ``minute``, ``hour`` and optionally ``day_of_month``, ``month``
    and ``day_of_week`` (0 = Sunday), in the spec's timezone."""

    minute: int = 0
    hour: int = 0
    day_of_month: int | None = None
    month: int | None = None
    day_of_week: int | None = None

    def cron(self) -> str:
        def field_of(value: int | None) -> str:
            return "*" if value is None else str(value)

        return (f"{self.minute} {self.hour} {field_of(self.day_of_month)} "
                f"{field_of(self.month)} {field_of(self.day_of_week)}")


@dataclass
class ScheduleSpec:
    """When a schedule fires: a ``cron`` expression, an ``interval`` (``"5m"``) and/or
    ``calendar`` entries, in ``timezone``, between ``start_at`` and ``end_at``, each fire
    delayed by up to ``jitter``."""

    cron: str | None = None
    interval: DurationLike | None = None
    calendar: list[CalendarSpec] | None = None
    timezone: str = "UTC"
    start_at: Instant | None = None
    end_at: Instant | None = None
    jitter: DurationLike | None = None

    def entries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if self.cron:
            found.append({"cron": self.cron})
        if self.interval is not None:
            found.append({"every": self.interval})
        found += [{"cron": c.cron()} for c in self.calendar or []]
        if not found:
            raise InvalidInput("a ScheduleSpec needs cron=, interval= or calendar=[...]")
        return found


@dataclass
class Schedule:
    """A schedule as pyworkflow describes it."""

    schedule_id: str
    workflow_name: str
    spec: ScheduleSpec
    status: ScheduleStatus
    overlap_policy: OverlapPolicy
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    next_run_time: datetime | None = None
    last_run_at: datetime | None = None
    total_runs: int = 0
    running_run_ids: list[str] = field(default_factory=list)


def _instant(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text).astimezone(timezone.utc)


def _policy(value: Any) -> str:
    policy = value if isinstance(value, OverlapPolicy) else None
    if policy is None:
        try:
            policy = OverlapPolicy(value)
        except ValueError:
            raise InvalidInput(f"overlap_policy must be an OverlapPolicy, got {value!r}") from None
    if policy not in _OVERLAP:
        raise InvalidInput("OverlapPolicy.TERMINATE_OTHER is not available here: this engine "
                           "cancels the other run (OverlapPolicy.CANCEL_OTHER) and lets its "
                           "clean-up run")
    return _OVERLAP[policy]


def _describe(schedule_id: str, spec: ScheduleSpec | None = None) -> Schedule:
    parts = part_ids(schedule_id)
    if not parts:
        raise ScheduleNotFoundError(schedule_id)
    described = [native.ScheduleHandle(p).describe(upcoming=1) for p in parts]
    first = described[0]
    if spec is None:
        crons = [d["cron"] for d in described if d.get("cron")]
        every = next((d["every"] for d in described if d.get("every")), None)
        spec = ScheduleSpec(cron=crons[0] if crons else None, interval=every,
                            calendar=None, timezone=first["timezone"],
                            start_at=first.get("start_at"), end_at=first.get("end_at"),
                            jitter=first.get("jitter"))
    upcoming = sorted(t for d in described for t in d["next_fire_times"])
    fired = sorted(d["last_fire_at"] for d in described if d["last_fire_at"])
    overlap = {v: k for k, v in _OVERLAP.items()}.get(first["overlap"], OverlapPolicy.SKIP)
    return Schedule(
        schedule_id=schedule_id, workflow_name=first["workflow"], spec=spec,
        status=ScheduleStatus(first["status"]), overlap_policy=overlap,
        args=list(first["args"]), kwargs=dict(first["kwargs"]),
        next_run_time=_instant(upcoming[0]) if upcoming else None,
        last_run_at=_instant(fired[-1]) if fired else None,
        total_runs=sum(d["fire_count"] for d in described),
        running_run_ids=[r for d in described for r in d["running"]])


_specs: dict[str, ScheduleSpec] = {}  # the specs as given, for describing calendar entries


def _create(schedule_id: str, workflow_name: str, spec: ScheduleSpec, overlap: str,
            args: Sequence[Any], kwargs: dict[str, Any] | None) -> None:
    jitter = None if spec.jitter is None else parse_duration(spec.jitter, what="jitter")
    create_parts(schedule_id, workflow_name, spec.entries(), args=list(args),
                 kwargs=kwargs or {}, overlap=overlap, jitter=jitter, timezone=spec.timezone,
                 start_at=spec.start_at, end_at=spec.end_at)
    _specs[schedule_id] = spec


def _workflow_name(target: Any) -> str:
    return target if isinstance(target, str) else native_of(target).name


async def create_schedule(workflow_name: Any, spec: ScheduleSpec,
                          overlap_policy: OverlapPolicy = OverlapPolicy.SKIP,
                          schedule_id: str | None = None, args: Sequence[Any] = (),
                          kwargs: dict[str, Any] | None = None, **_ignored: Any) -> Schedule:
    """Create a schedule of ``workflow_name`` (a name or the workflow itself)."""
    name = _workflow_name(workflow_name)
    sid = schedule_id or f"sched_{name}"
    overlap = _policy(overlap_policy)

    def create() -> Schedule:
        if part_ids(sid):
            raise InvalidInput(f"a schedule with id {sid!r} exists already; update_schedule "
                               "changes it, delete_schedule removes it")
        _create(sid, name, spec, overlap, args, kwargs)
        return _describe(sid, spec)

    return await blocking(create)


async def get_schedule(schedule_id: str) -> Schedule | None:
    """The schedule, or ``None`` when there is none with this id."""
    def read() -> Schedule | None:
        if not part_ids(schedule_id):
            return None
        return _describe(schedule_id, _specs.get(schedule_id))

    return await blocking(read)


async def list_schedules(workflow_name: Any = None, status: ScheduleStatus | None = None
                         ) -> list[Schedule]:
    """Every schedule, oldest first (of one workflow, or in one status)."""
    name = None if workflow_name is None else _workflow_name(workflow_name)

    def read() -> list[Schedule]:
        found = [_describe(sid, _specs.get(sid)) for sid in base_ids()]
        return [s for s in found if (name is None or s.workflow_name == name)
                and (status is None or s.status is status)]

    return await blocking(read)


def _each(schedule_id: str, act: Callable[[native.ScheduleHandle], Any]) -> list[Any]:
    parts = part_ids(schedule_id)
    if not parts:
        raise ScheduleNotFoundError(schedule_id)
    return [act(native.ScheduleHandle(p)) for p in parts]


async def pause_schedule(schedule_id: str) -> Schedule:
    def pause() -> Schedule:
        _each(schedule_id, lambda h: h.pause())
        return _describe(schedule_id, _specs.get(schedule_id))

    return await blocking(pause)


async def resume_schedule(schedule_id: str) -> Schedule:
    def resume() -> Schedule:
        _each(schedule_id, lambda h: h.resume())
        return _describe(schedule_id, _specs.get(schedule_id))

    return await blocking(resume)


async def delete_schedule(schedule_id: str) -> None:
    """Remove the schedule; runs it started go on."""
    await blocking(lambda: _each(schedule_id, lambda h: h.delete()))
    _specs.pop(schedule_id, None)


async def trigger_schedule(schedule_id: str) -> str:
    """Start a run now (even when paused); its run id."""
    def fire() -> str:
        parts = part_ids(schedule_id)
        if not parts:
            raise ScheduleNotFoundError(schedule_id)
        return native.ScheduleHandle(parts[0]).trigger().run_id

    return await blocking(fire)


async def backfill_schedule(schedule_id: str, start_time: Instant, end_time: Instant
                            ) -> list[str]:
    """Runs for every fire time in ``[start_time, end_time]`` not run yet; their ids."""
    runs = await blocking(lambda: _each(schedule_id, lambda h: h.backfill(start_time,
                                                                           end_time)))
    return [r.run_id for group in runs for r in group]


async def update_schedule(schedule_id: str, spec: ScheduleSpec | None = None,
                          overlap_policy: OverlapPolicy | None = None) -> Schedule:
    """Change the spec and/or the overlap policy (the fire count starts over)."""
    def change() -> Schedule:
        old = _describe(schedule_id, _specs.get(schedule_id))
        new_spec = spec or old.spec
        overlap = _policy(overlap_policy or old.overlap_policy)
        paused = old.status is ScheduleStatus.PAUSED
        _each(schedule_id, lambda h: h.delete())
        _create(schedule_id, old.workflow_name, new_spec, overlap, old.args, old.kwargs)
        if paused:
            _each(schedule_id, lambda h: h.pause())
        return _describe(schedule_id, new_spec)

    return await blocking(change)


@dataclass(frozen=True)
class ScheduledWorkflowMetadata:
    workflow_name: str
    spec: ScheduleSpec
    overlap_policy: OverlapPolicy
    func: Any


_scheduled: dict[str, ScheduledWorkflowMetadata] = {}


def scheduled_workflow(cron: str | None = None, interval: DurationLike | None = None,
                       calendar: list[CalendarSpec] | None = None, timezone: str = "UTC",
                       start_at: Instant | None = None, end_at: Instant | None = None,
                       jitter: DurationLike | None = None,
                       overlap_policy: OverlapPolicy = OverlapPolicy.SKIP,
                       name: str | None = None, max_duration: DurationLike | None = None,
                       **_ignored: Any) -> Callable[[Any], Any]:
    """A ``@workflow`` with its schedule; ``activate_scheduled_workflows()`` creates the
    schedules (ids ``auto_<name>``)."""
    if not cron and interval is None and not calendar:
        raise InvalidInput("scheduled_workflow needs cron=, interval= or calendar=[...]")
    spec = ScheduleSpec(cron, interval, calendar, timezone, start_at, end_at, jitter)
    spec.entries()
    _policy(overlap_policy)

    def decorate(fn: Any) -> Any:
        definition = workflow(name=name, max_duration=max_duration)(fn)
        _scheduled[definition.name] = ScheduledWorkflowMetadata(definition.name, spec,
                                                                overlap_policy, definition)
        return definition

    return decorate


async def activate_scheduled_workflows(schedule_id_prefix: str = "auto_") -> list[str]:
    """Create the schedule of every ``@scheduled_workflow`` that has none yet; their ids."""
    created = []
    for name, meta in _scheduled.items():
        sid = f"{schedule_id_prefix}{name}"
        if await get_schedule(sid) is None:
            await create_schedule(name, meta.spec, meta.overlap_policy, schedule_id=sid)
            created.append(sid)
    return created


__all__ = ["CalendarSpec", "OverlapPolicy", "Schedule", "ScheduleNotFoundError",
           "ScheduleSpec", "ScheduleStatus", "ScheduledWorkflowMetadata",
           "activate_scheduled_workflows", "backfill_schedule", "create_schedule",
           "delete_schedule", "get_schedule", "list_schedules", "pause_schedule",
           "resume_schedule", "scheduled_workflow", "trigger_schedule", "update_schedule"]
