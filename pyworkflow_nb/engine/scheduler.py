"""Schedules inside the engine: when each fires, and what a fire does.

A :class:`ScheduleSpec` says *when* (a cron expression in a timezone, or a fixed interval,
bounded by ``start_at``/``end_at``) and *how* (overlap, catch-up and jitter policies). The
:class:`Scheduler` keeps every schedule of the store in memory and sleeps on one loop timer
until the earliest due time (with the virtual clock, :func:`~.clock.advance` wakes it).

A fire at nominal time ``t`` starts the run ``<schedule_id>@<t as UTC>``: the run id is
deterministic, so a fire replayed after a crash, or backfilled twice, never starts two runs.
State changes are ``schedule.*`` events whose ``run_id`` is ``schedule:<schedule_id>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..definitions import Definition, Workflow
from ..durations import iso_utc
from ..errors import InvalidInput
from ..history import vocabulary as ev
from ..serde import decode, encode_error
from ..store import ScheduleRow

if TYPE_CHECKING:
    from .engine import Engine

OVERLAPS = ("skip", "buffer_one", "buffer_all", "cancel_other", "allow")
CATCHUPS = ("latest", "all", "none")
MAX_CATCHUP = 1000  # catchup="all" starts at most this many missed fires
MAX_BACKFILL = 1000
_JUST = 0.001  # "just before": fire times are whole seconds, datetimes keep microseconds
MIN_EVERY = 1.0  # seconds: the shortest interval a schedule fires at
_US = 1_000_000  # interval fire times are computed in whole microseconds, exactly


def _us(seconds: float) -> int:
    return round(seconds * _US)


#: The role (see ``SharedStore.hold_role``) of the one process that fires a shared store's
#: schedules.
SCHEDULER_ROLE = "scheduler"


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule fires and how it treats overlaps, missed fires and jitter."""

    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup: str = "latest"
    jitter: float = 0.0
    start_at: float | None = None
    end_at: float | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise InvalidInput("a schedule needs exactly one of cron=\"0 9 * * 1-5\" or "
                               "every=\"15m\"")
        if self.cron is not None and (not isinstance(self.cron, str)
                                      or not croniter.is_valid(self.cron)
                                      or (len(self.cron.split()) != 5
                                          and not self.cron.startswith("@"))):
            raise InvalidInput(
                f"invalid cron expression {self.cron!r}: expected five fields 'minute hour "
                "day-of-month month day-of-week', e.g. \"0 9 * * 1-5\" or \"*/15 * * * *\"")
        if self.every is not None and not self.every >= MIN_EVERY:
            raise InvalidInput(
                f"every= must be at least {MIN_EVERY:g} second, got {self.every!r} s; for a "
                "faster loop, write a workflow that repeats with pw.sleep()")
        if self.overlap not in OVERLAPS:
            raise InvalidInput(f"invalid overlap policy {self.overlap!r}: use one of "
                               + ", ".join(repr(o) for o in OVERLAPS))
        if self.catchup not in CATCHUPS:
            raise InvalidInput(f"invalid catchup policy {self.catchup!r}: use one of "
                               + ", ".join(repr(c) for c in CATCHUPS))
        if (self.start_at is not None and self.end_at is not None
                and self.end_at <= self.start_at):
            raise InvalidInput("end_at must be later than start_at "
                               f"({iso_utc(self.end_at)} <= {iso_utc(self.start_at)})")
        self.zone()

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidInput(
                f"unknown timezone {self.timezone!r}: use an IANA name such as \"UTC\", "
                "\"Europe/Paris\" or \"America/New_York\"") from None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ScheduleSpec:
        return cls(**json.loads(text))

    # -- fire times ----------------------------------------------------------------------------

    def next_after(self, t: float, anchor: float) -> float | None:
        """The first nominal fire time strictly after ``t``, or ``None`` past ``end_at``."""
        if self.start_at is not None and t < self.start_at:
            t = self.start_at - _JUST
        when = self._cron_next(t) if self.cron is not None else self._every_next(t, anchor)
        if self.end_at is not None and when > self.end_at:
            return None
        return when

    def _interval_grid(self, t: float, anchor: float) -> tuple[int, int, int]:
        """``(start, every, k)`` in microseconds: fire ``k`` is the last at or before ``t``."""
        every = _us(self.every or MIN_EVERY)
        start = _us(self.start_at if self.start_at is not None else anchor)
        return start, every, (_us(t) - start) // every

    def _every_next(self, t: float, anchor: float) -> float:
        start, every, k = self._interval_grid(t, anchor)
        return start / _US if k < 0 else (start + (k + 1) * every) / _US

    def _cron_next(self, t: float) -> float:
        zone = self.zone()
        local = datetime.fromtimestamp(t, zone)
        nxt = croniter(self.cron, local).get_next(datetime)
        if nxt.replace(tzinfo=None) == local.replace(tzinfo=None):
            # the second pass through a wall-clock time when DST ends: fire once only
            nxt = croniter(self.cron, nxt).get_next(datetime)
        return float(nxt.timestamp())

    def latest_at_or_before(self, t: float, anchor: float, after: float) -> float | None:
        """The last nominal fire time in ``(after, t]``, or ``None``."""
        if self.cron is not None:
            prev = croniter(self.cron, datetime.fromtimestamp(t, self.zone())).get_next(datetime)
            prev_t = float(croniter(self.cron, prev).get_prev(datetime).timestamp())
        else:
            start, every, k = self._interval_grid(t, anchor)
            prev_t = (start + k * every) / _US
        if prev_t <= after or prev_t > t:
            return None
        if self.start_at is not None and prev_t < self.start_at:
            return None
        return prev_t

    def jitter_for(self, schedule_id: str, nominal: float) -> float:
        """A deterministic delay in ``[0, jitter)`` for the fire at ``nominal``."""
        if not self.jitter:
            return 0.0
        digest = hashlib.sha256(f"{schedule_id}|{nominal!r}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 * self.jitter


def run_id_for(schedule_id: str, nominal: float) -> str:
    """The run id a fire at ``nominal`` starts: the same fire never starts two runs."""
    stamp = datetime.fromtimestamp(nominal, timezone.utc).strftime("%Y%m%dT%H%M%S")
    frac = nominal % 1
    return f"{schedule_id}@{stamp}{f'.{round(frac * 1000):03d}' if frac else ''}Z"


class Schedule:
    """The live state of one schedule."""

    def __init__(self, row: ScheduleRow, seq: int = 0) -> None:
        self.row = row
        self.spec = ScheduleSpec.from_json(row.spec)
        self.seq = seq
        self.active: set[str] = set()
        self.buffered: list[float] = json.loads(row.buffered) if row.buffered else []
        self.waiting_for_definition = False
        self.caught_up = 0

    @property
    def schedule_id(self) -> str:
        return self.row.schedule_id

    @property
    def due_at(self) -> float | None:
        """When the next fire happens: its nominal time plus its jitter."""
        nominal = self.row.next_fire_at
        if nominal is None or self.row.status != "active":
            return None
        return nominal + self.spec.jitter_for(self.schedule_id, nominal)

    def upcoming(self, count: int) -> list[float]:
        """The next ``count`` nominal fire times, from ``next_fire_at`` on."""
        times: list[float] = []
        t = self.row.next_fire_at
        while t is not None and len(times) < count:
            times.append(t)
            nxt = self.spec.next_after(t, self.row.created_at)
            t = nxt if nxt is not None and nxt > t else None
        return times


class Scheduler:
    """Every schedule of the engine's store; fires them on time and applies their policies."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.schedules: dict[str, Schedule] = {}
        self.started_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        #: in a store processes share, only the process playing the ``scheduler`` role fires
        #: schedules and changes them; the others hand their changes to it (``leading``)
        self.leading = True

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the store's schedules and start firing (once; missed fires catch up)."""
        if self.started_at is not None or self.engine.store.read_only:
            return
        self.started_at = self.engine.clock.now()
        self._load()
        self.engine.registry.subscribe(self._on_definition)
        for apply in pending.pop_all():
            apply(self)
        self.fire_due()

    def _load(self) -> None:
        """(Re)read the schedules and their event counts from the store."""
        engine = self.engine
        self.schedules = {}
        rows = engine.store.load_schedules()
        seqs = engine.store.schedule_seqs() if rows else {}  # a scan of the events
        for row in rows:
            seq = seqs.get(row.schedule_id, 0)
            try:
                self.schedules[row.schedule_id] = Schedule(row, seq)
            except InvalidInput as exc:  # saved by an older version that allowed it
                engine.record((f"schedule:{row.schedule_id}", seq + 1, engine.clock.now(),
                               ev.SCHEDULE_FIRE_FAILED, None, None, ev.schedule_event({
                                   "error": {"type": "pyworkflow_nb.errors.InvalidInput",
                                             "message": f"not loaded: {exc}; create it again "
                                                        "with pw.schedule(...)"}})))
        for run in engine.runs.values():
            sched = self.schedules.get(run.row.schedule_id or "")
            if sched is not None:
                sched.active.add(run.run_id)

    def lead(self, leading: bool) -> None:
        """This process took the ``scheduler`` role of a shared store (fire from the store's
        state now), or lost it (stop firing)."""
        if leading == self.leading:
            return
        self.leading = leading
        if leading and self.started_at is not None:
            self._load()
            self.fire_due()
        elif self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._armed_for = None

    def sync_active(self, unfinished: list[tuple[str, str]]) -> None:
        """The leader learns which schedule runs are unfinished in any process (``(schedule
        id, run id)`` pairs read from the store); runs that ended elsewhere end here."""
        elsewhere: dict[str, set[str]] = {}
        for schedule_id, run_id in unfinished:
            elsewhere.setdefault(schedule_id, set()).add(run_id)
        for sched in list(self.schedules.values()):
            known = elsewhere.get(sched.schedule_id, set())
            sched.active |= known
            for run_id in list(sched.active - known):
                if run_id not in self.engine.runs:
                    self.run_ended(sched.schedule_id, run_id)

    def names(self) -> list[str]:
        """The schedules' ids, oldest first (read from the store when another process leads)."""
        if not self.leading:
            self._load()
        return list(self.schedules)

    def close(self) -> None:
        self.engine.registry.unsubscribe(self._on_definition)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for task in self._tasks:
            task.cancel()

    def _on_definition(self, definition: Definition) -> None:
        if isinstance(definition, Workflow) and not self.engine.loop.is_closed():
            self.engine.loop.call_soon_threadsafe(self._defined, definition.name)

    def _defined(self, name: str) -> None:
        if any(s.waiting_for_definition and s.row.workflow == name
               for s in self.schedules.values()):
            self.fire_due()

    # -- waking --------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        """The earliest due time of any active schedule."""
        dues = [s.due_at for s in self.schedules.values()
                if not s.waiting_for_definition and s.due_at is not None]
        return min(dues) if dues else None

    def _arm(self) -> None:
        engine = self.engine
        if engine.clock.virtual or engine.closing or not self.leading:
            return
        wake = self.next_wake()
        if wake == self._armed_for:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_for = wake
        if wake is not None:
            delay = max(0.0, wake - engine.clock.now())
            self._handle = engine.loop.call_at(engine.loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._handle = None
        self._armed_for = None
        self.fire_due()

    def fire_due(self) -> None:
        """Fire every schedule whose due time the clock has reached, earliest first."""
        if self.started_at is None or self.engine.closing or not self.leading:
            return
        now = self.engine.clock.now()
        while True:
            due = [s for s in self.schedules.values() if s.due_at is not None
                   and s.due_at <= now and not self._blocked(s)]
            if not due:
                break
            self._fire_next(min(due, key=lambda s: (s.due_at, s.schedule_id)))
        self._arm()

    def _blocked(self, sched: Schedule) -> bool:
        sched.waiting_for_definition = self.engine.registry.workflow(sched.row.workflow) is None
        return sched.waiting_for_definition

    def _fire_next(self, sched: Schedule) -> None:
        row, spec = sched.row, sched.spec
        nominal = row.next_fire_at
        assert nominal is not None and self.started_at is not None
        missed = nominal < self.started_at
        if missed and spec.catchup == "all":
            sched.caught_up += 1
        if missed and (spec.catchup != "all" or sched.caught_up > MAX_CATCHUP):
            self._skip_missed(sched, nominal)
            return
        self._advance(sched, nominal)
        self._fire(sched, nominal, "catchup" if missed else "schedule")

    def _advance(self, sched: Schedule, past: float) -> None:
        """Set the next fire time after ``past``; a time that does not move forward stops the
        schedule with a ``schedule.fire_failed`` event instead of firing in a loop."""
        row = sched.row
        nxt = sched.spec.next_after(past, row.created_at)
        if nxt is not None and nxt <= past:
            row.next_fire_at = None
            self._emit(sched, ev.SCHEDULE_FIRE_FAILED, {
                "scheduled_at": past, "error": {
                    "type": "pyworkflow_nb.errors.InvalidInput",
                    "message": f"the next fire time after {iso_utc(past)} does not move forward "
                               f"({iso_utc(nxt)}); the schedule stopped. Change it with "
                               "handle.update(...) or delete it."}})
            self._save(sched)
            return
        row.next_fire_at = nxt

    def _skip_missed(self, sched: Schedule, first: float) -> None:
        """Skip the fires missed while the engine was down; catchup="latest" runs the last."""
        row, spec = sched.row, sched.spec
        start = self.started_at or first
        last = start - _JUST
        if spec.end_at is not None:
            last = min(last, spec.end_at)
        latest = spec.latest_at_or_before(last, row.created_at, first - _JUST)
        latest = first if latest is None else latest
        self._advance(sched, latest)
        skipped_to = latest if spec.catchup == "none" else latest - _JUST
        self._emit(sched, ev.SCHEDULE_SKIPPED, {"reason": f"catchup={spec.catchup}",
                                               "from": first, "to": skipped_to})
        if spec.catchup == "none":
            self._save(sched)
        else:
            self._fire(sched, latest, "catchup")

    # -- firing --------------------------------------------------------------------------------

    def _fire(self, sched: Schedule, nominal: float, reason: str) -> str | None:
        """Start the run for ``nominal`` unless the overlap policy says otherwise."""
        overlap = sched.spec.overlap
        if reason == "catchup" and overlap != "allow":
            overlap = "buffer_all"  # missed fires run one after another, none is dropped
        if sched.active and reason not in ("trigger", "backfill") and overlap != "allow":
            if overlap == "cancel_other":
                for run_id in list(sched.active):
                    self._spawn(self.engine.cancel(run_id))
            elif overlap == "buffer_all" or (overlap == "buffer_one" and not sched.buffered):
                sched.buffered.append(nominal)
                self._emit(sched, ev.SCHEDULE_BUFFERED, {"scheduled_at": nominal})
                self._save(sched)
                return None
            else:
                self._emit(sched, ev.SCHEDULE_SKIPPED, {"reason": "overlap",
                                                       "scheduled_at": nominal})
                self._save(sched)
                return None
        return self._start(sched, nominal, reason)

    def _start(self, sched: Schedule, nominal: float | None, reason: str) -> str:
        row = sched.row
        now = self.engine.clock.now()
        when = nominal if nominal is not None else now
        run_id = run_id_for(row.schedule_id, when)
        if reason == "trigger":
            run_id = f"{run_id}-trigger{row.fire_count + 1}"
        jitter = sched.spec.jitter_for(row.schedule_id, when) if nominal is not None else 0.0
        row.fire_count += 1
        row.last_run_id = run_id
        if reason in ("schedule", "catchup", "buffered"):
            row.last_fire_at = max(row.last_fire_at or when, when)
        self._emit(sched, ev.SCHEDULE_FIRED, {"scheduled_at": when, "jitter": jitter,
                                             "run_id": run_id, "reason": reason})
        self._save(sched)
        sched.active.add(run_id)
        # in this same loop turn, so the fire, the schedule's new state and the run's start
        # are in one commit: a crash keeps all three or none
        self._start_run(sched, run_id, when)
        return run_id

    def _start_run(self, sched: Schedule, run_id: str, scheduled_at: float) -> None:
        payload = decode(sched.row.input) or {}
        try:
            self.engine.start_now(sched.row.workflow, tuple(payload.get("args", ())),
                                  payload.get("kwargs", {}), run_id=run_id,
                                  schedule_id=sched.schedule_id, scheduled_at=scheduled_at)
        except Exception as exc:
            self._emit(sched, ev.SCHEDULE_FIRE_FAILED, {"run_id": run_id,
                                                       "error": encode_error(exc)})
            self.run_ended(sched.schedule_id, run_id)
            return
        if run_id not in self.engine.runs:  # it had already finished (an existing run id)
            self.run_ended(sched.schedule_id, run_id)

    async def wait_started(self) -> None:
        """Wait until every run a fire asked for has been started (or failed to start)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def run_ended(self, schedule_id: str, run_id: str) -> None:
        """A run of the schedule ended (the engine tells, as it records the end)."""
        sched = self.schedules.get(schedule_id)
        if sched is None or run_id not in sched.active or not self.leading:
            return  # (the process leading a shared store's schedules learns it from the store)
        sched.active.discard(run_id)
        if not sched.active and sched.buffered and not self.engine.closing:
            nominal = sched.buffered.pop(0)
            self._start(sched, nominal, "buffered")

    def _spawn(self, coro: Any) -> None:
        task = self.engine.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- recording -----------------------------------------------------------------------------

    def _emit(self, sched: Schedule, type_: str, data: dict[str, Any]) -> None:
        engine = self.engine
        sched.seq += 1
        event = (f"schedule:{sched.schedule_id}", sched.seq, engine.clock.now(), type_, None,
                 None, ev.schedule_event(data))
        engine.record(event)

    def _save(self, sched: Schedule) -> None:
        row = sched.row
        row.buffered = json.dumps(sched.buffered) if sched.buffered else None
        row.updated_at = self.engine.clock.now()
        self.engine.writer.schedule_changed(row)

    # -- commands ------------------------------------------------------------------------------

    def get(self, schedule_id: str) -> Schedule:
        if not self.leading:
            self._load()
        sched = self.schedules.get(schedule_id)
        if sched is None:
            known = ", ".join(sorted(self.schedules)) or "none"
            raise InvalidInput(f"no schedule with id {schedule_id!r} (schedules: {known}); "
                               "create it with pw.schedule(workflow, cron=... or every=...)")
        return sched

    def apply(self, schedule_id: str, workflow: str, spec: ScheduleSpec, input_json: str,
              *, paused: bool = False, note: str | None = None) -> Schedule:
        """Create the schedule, or update it if its spec or input changed (idempotent)."""
        self.engine.require_writable("create or change a schedule")
        if not self.leading:
            return self._hand_over("apply", schedule_id, {
                "workflow": workflow, "spec": spec.to_json(), "input": input_json,
                "paused": paused, "note": note})
        sched = self.schedules.get(schedule_id)
        if sched is None:
            now = self.engine.clock.now()
            row = ScheduleRow(schedule_id, workflow, "paused" if paused else "active",
                              spec.to_json(), input_json, note, created_at=now, updated_at=now)
            sched = self.schedules[schedule_id] = Schedule(
                row, self.engine.store.schedule_seqs().get(schedule_id, 0))
            row.next_fire_at = spec.next_after(now, now)
            self._emit(sched, ev.SCHEDULE_CREATED, {"workflow": workflow, "spec": asdict(spec),
                                                   "status": row.status, "note": note})
            self._save(sched)
        elif (sched.row.workflow, sched.spec, sched.row.input) != (workflow, spec, input_json):
            self.update(schedule_id, spec, workflow=workflow, input_json=input_json)
        self.fire_due()
        return sched

    def update(self, schedule_id: str, spec: ScheduleSpec, *, workflow: str | None = None,
               input_json: str | None = None) -> Any:
        self.engine.require_writable("change a schedule")
        sched = self.get(schedule_id)
        if not self.leading:
            return self._hand_over("update", schedule_id, {
                "spec": spec.to_json(), "workflow": workflow, "input": input_json})
        row = sched.row
        changes: dict[str, Any] = {k: v for k, v in asdict(spec).items()
                                   if getattr(sched.spec, k) != v}
        if workflow is not None and workflow != row.workflow:
            row.workflow = changes["workflow"] = workflow
        if input_json is not None and input_json != row.input:
            row.input = input_json
            changes["input"] = json.loads(input_json)
        sched.spec = spec
        row.spec = spec.to_json()
        row.next_fire_at = spec.next_after(self.engine.clock.now(), row.created_at)
        self._emit(sched, ev.SCHEDULE_UPDATED, {"changes": changes})
        self._save(sched)
        self.fire_due()
        return sched

    def set_status(self, schedule_id: str, status: str, note: str | None) -> Any:
        self.engine.require_writable("pause or resume a schedule")
        sched = self.get(schedule_id)
        if not self.leading:
            return self._hand_over("set_status", schedule_id, {"status": status, "note": note})
        row = sched.row
        if row.status == status:
            return
        row.status, row.note = status, note
        if status == "active":
            row.next_fire_at = sched.spec.next_after(self.engine.clock.now(), row.created_at)
        self._emit(sched, ev.SCHEDULE_PAUSED if status == "paused" else ev.SCHEDULE_RESUMED,
                   {"note": note})
        self._save(sched)
        self.fire_due()

    def trigger(self, schedule_id: str) -> str:
        """Start a run now, whatever the overlap policy and the pause state."""
        self.engine.require_writable("trigger a schedule")
        self._refuse_if_led_elsewhere("trigger")
        return self._start(self.get(schedule_id), None, "trigger")

    def backfill(self, schedule_id: str, start: float, end: float) -> list[str]:
        """Start the runs of every nominal fire time in ``[start, end]``."""
        self.engine.require_writable("backfill a schedule")
        self._refuse_if_led_elsewhere("backfill")
        sched = self.get(schedule_id)
        if end < start:
            raise InvalidInput("backfill end must not be earlier than its start "
                               f"({iso_utc(end)} < {iso_utc(start)})")
        free = replace(sched.spec, start_at=None, end_at=None)
        times: list[float] = []
        t = free.next_after(start - _JUST, start)
        while t is not None and t <= end:
            times.append(t)
            if len(times) > MAX_BACKFILL:
                raise InvalidInput(
                    f"backfill from {iso_utc(start)} to {iso_utc(end)} covers more than "
                    f"{MAX_BACKFILL} fires; split it into smaller ranges")
            nxt = free.next_after(t, start)
            t = nxt if nxt is not None and nxt > t else None
        self._emit(sched, ev.SCHEDULE_BACKFILLED, {"start": start, "end": end,
                                                  "fires": len(times)})
        return [self._start(sched, t, "backfill") for t in times]

    def delete(self, schedule_id: str) -> None:
        self.engine.require_writable("delete a schedule")
        sched = self.get(schedule_id)
        if not self.leading:
            return self._hand_over("delete", schedule_id, {})
        self._emit(sched, ev.SCHEDULE_DELETED, {})
        del self.schedules[schedule_id]
        self.engine.writer.schedule_deleted(schedule_id)
        self._arm()


    # -- a store processes share -----------------------------------------------------------

    def _hand_over(self, command: str, schedule_id: str, payload: dict[str, Any]) -> Any:
        """Store a change for the process that leads the schedules (it applies it); returns
        the wait for it to be stored."""
        inbox = self.engine.inbox
        assert inbox is not None, "only a shared store's scheduler follows another"
        return self.engine.loop.run_in_executor(
            None, inbox.store.post, f"schedule:{schedule_id}", "schedule", command,
            json.dumps(payload))

    def apply_handed(self, command: str, schedule_id: str, payload: dict[str, Any]) -> None:
        """Apply a change another process handed over (this process leads the schedules)."""
        if command == "apply":
            self.apply(schedule_id, payload["workflow"], ScheduleSpec.from_json(payload["spec"]),
                       payload["input"], paused=payload["paused"], note=payload["note"])
        elif command == "update":
            self.update(schedule_id, ScheduleSpec.from_json(payload["spec"]),
                        workflow=payload["workflow"], input_json=payload["input"])
        elif command == "set_status":
            self.set_status(schedule_id, payload["status"], payload["note"])
        elif command == "delete":
            self.delete(schedule_id)

    def _refuse_if_led_elsewhere(self, action: str) -> None:
        if self.leading:
            return
        inbox = self.engine.inbox
        holder = inbox.store.role_holder(SCHEDULER_ROLE) if inbox is not None else None
        raise InvalidInput(
            f"cannot {action} a schedule from here: the store {self.engine.store.path} is "
            f"shared and process {holder or '(none right now)'} runs its schedules; {action} "
            "it from that process (pause, resume, update and delete work from any process)")


class PendingSchedules:
    """Schedules declared (``@pw.schedule``) before the engine started; applied at start."""

    def __init__(self) -> None:
        self._items: dict[str, Callable[[Scheduler], Any]] = {}

    def add(self, schedule_id: str, apply: Callable[[Scheduler], Any]) -> None:
        self._items[schedule_id] = apply

    def pop_all(self) -> list[Callable[[Scheduler], Any]]:
        items, self._items = list(self._items.values()), {}
        return items


pending = PendingSchedules()
