"""``client.create_schedule(...)`` and its handle, on this engine's schedules.

A ``ScheduleSpec`` with several cron expressions or intervals becomes one engine schedule per
entry (ids ``ID``, ``ID~2``, ...), driven together by one handle. The engine's schedule calls
block, so each is run on a helper thread: the caller's loop stays free (it may be the one the
engine shares).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ... import schedules as native
from ...errors import InvalidInput
from ...schedules import Instant
from ..schedule_parts import blocking, create_parts, part_ids
from . import queues
from .handles import DurableWorkflowError, WorkflowHandle

_OVERLAP = {"skip": "skip", "buffer_one": "buffer_one", "buffer_all": "buffer_all",
            "cancel_other": "cancel_other", "allow_all": "allow", "allow": "allow"}


class ScheduleNotFound(DurableWorkflowError):
    """No schedule has that id."""


class ScheduleAlreadyExists(DurableWorkflowError):
    """A schedule with that id exists already."""


@dataclass
class ScheduleSpec:
    """When a schedule fires: cron expressions and/or intervals (seconds), in ``timezone``."""

    cron_expressions: list[str] = field(default_factory=list)
    intervals: list[float] = field(default_factory=list)
    timezone: str = "UTC"
    start_at: Instant | None = None
    end_at: Instant | None = None


@dataclass
class ScheduleAction:
    """What a schedule starts: a workflow type with its input."""

    workflow_type: str
    task_queue: str = "default"
    input: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleDescription:
    """What ``handle.describe()`` returns."""

    schedule_id: str
    status: str
    next_fire_at: datetime | None
    fires_count: int
    workflow_type: str


@dataclass(frozen=True)
class ScheduleList:
    schedules: list[ScheduleDescription]


def _create(schedule_id: str, spec: ScheduleSpec, action: ScheduleAction, overlap: str,
            jitter: float | None, paused: bool, note: str | None) -> None:
    if overlap not in _OVERLAP:
        raise InvalidInput(f"overlap_policy must be one of {', '.join(_OVERLAP)}, got "
                           f"{overlap!r}")
    entries: list[dict[str, Any]] = [{"cron": c} for c in spec.cron_expressions]
    entries += [{"every": s} for s in spec.intervals]
    if not entries:
        raise InvalidInput("a ScheduleSpec needs cron_expressions or intervals")
    create_parts(schedule_id, action.workflow_type, entries, args=list(action.input),
                 kwargs={"task_queue": queues.check_queue(action.task_queue,
                                                          "ScheduleAction")},
                 overlap=_OVERLAP[overlap], jitter=jitter, timezone=spec.timezone,
                 start_at=spec.start_at, end_at=spec.end_at, paused=paused, note=note)


class ScheduleHandle:
    """One schedule of the SDK: describe, pause, resume, trigger, backfill, update, delete."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id

    def _handles(self) -> list[native.ScheduleHandle]:
        parts = part_ids(self.schedule_id)
        if not parts:
            raise ScheduleNotFound(f"no schedule with id {self.schedule_id!r}")
        return [native.ScheduleHandle(p) for p in parts]

    async def describe(self) -> ScheduleDescription:
        return await blocking(self._describe)

    def _describe(self) -> ScheduleDescription:
        described = [h.describe(upcoming=1) for h in self._handles()]
        upcoming = sorted(t for d in described for t in d["next_fire_times"])
        return ScheduleDescription(
            self.schedule_id, described[0]["status"],
            datetime.fromisoformat(upcoming[0]).astimezone(timezone.utc) if upcoming else None,
            sum(d["fire_count"] for d in described), described[0]["workflow"])

    async def pause(self, note: str | None = None) -> None:
        def pause() -> None:
            for handle in self._handles():
                handle.pause(note)

        await blocking(pause)

    async def resume(self, note: str | None = None) -> None:
        def resume() -> None:
            for handle in self._handles():
                handle.resume(note)

        await blocking(resume)

    async def trigger(self) -> WorkflowHandle:
        """Start a run now; returns its handle."""
        run = await blocking(lambda: self._handles()[0].trigger())
        return WorkflowHandle(run.run_id)

    async def backfill(self, start_time: Instant, end_time: Instant) -> list[WorkflowHandle]:
        """A run for every fire time in ``[start_time, end_time]`` not run yet."""
        runs = await blocking(lambda: [r for h in self._handles()
                                        for r in h.backfill(start_time, end_time)])
        return [WorkflowHandle(r.run_id) for r in runs]

    async def update(self, *, spec: ScheduleSpec | None = None,
                     action: ScheduleAction | None = None, note: str | None = None) -> None:
        """Replace the spec and/or action (the schedule's fire count starts over)."""
        def change() -> None:
            handles = self._handles()
            old = [h.describe(upcoming=1) for h in handles]
            queue = old[0]["kwargs"].get("task_queue", "default")
            new_action = action or ScheduleAction(old[0]["workflow"], queue,
                                                  input=list(old[0]["args"]))
            new_spec = spec or ScheduleSpec([d["cron"] for d in old if d.get("cron")],
                                            [d["every"] for d in old if d.get("every")],
                                            old[0]["timezone"])
            overlap = {v: k for k, v in _OVERLAP.items()}[old[0]["overlap"]]
            for handle in handles:
                handle.delete()
            _create(self.schedule_id, new_spec, new_action, overlap, old[0]["jitter"],
                    old[0]["status"] == "paused", note)

        await blocking(change)

    async def delete(self) -> None:
        def delete() -> None:
            for handle in self._handles():
                handle.delete()

        await blocking(delete)


async def create_schedule(schedule_id: str, spec: ScheduleSpec, action: ScheduleAction, *,
                          overlap_policy: str = "skip", jitter_seconds: float | None = None,
                          paused: bool = False, note: str | None = None) -> ScheduleHandle:
    def create() -> None:
        if part_ids(schedule_id):
            raise ScheduleAlreadyExists(f"a schedule with id {schedule_id!r} exists already")
        _create(schedule_id, spec, action, overlap_policy, jitter_seconds, paused, note)

    await blocking(create)
    return ScheduleHandle(schedule_id)


async def list_schedules() -> ScheduleList:
    def described() -> list[ScheduleDescription]:
        ids = [h.schedule_id for h in native.list_schedules()]
        return [ScheduleHandle(i)._describe() for i in ids if "~" not in i]

    return ScheduleList(await blocking(described))
