"""Interval schedules fire on exact times, and a schedule can never make the scheduler spin."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import duckdb
from schedule_helpers import START, runs_of, schedule_events

import pyworkflow_nb as pw
from pyworkflow_nb.engine.scheduler import ScheduleSpec
from pyworkflow_nb.runtime import runtime


@pw.workflow
async def beat() -> None:
    return None


def test_a_fractional_interval_fires_on_exact_multiples(vstore: Path) -> None:
    pw.schedule(beat, every="1.1s")  # this froze the engine: 3.3 came out as 3.3 again
    pw.skip("60s")
    times = [r.row().scheduled_at for r in runs_of("beat")]
    base = START.timestamp()
    assert len(times) == 54  # 1.1, 2.2, ... 59.4
    assert all(abs(t - (base + 1.1 * (k + 1))) < 1e-6 for k, t in enumerate(times))
    assert len(set(times)) == len(times)


def test_many_fires_of_a_fractional_interval_never_repeat(vstore: Path) -> None:
    spec = ScheduleSpec(every=2.7)
    t, seen = START.timestamp(), []
    for _ in range(20_000):
        nxt = spec.next_after(t, START.timestamp())
        assert nxt is not None and nxt > t
        seen.append(nxt)
        t = nxt
    assert abs(seen[-1] - (START.timestamp() + 2.7 * 20_000)) < 1e-6


class _Stuck(ScheduleSpec):
    """A spec whose next fire time does not move: what the scheduler must survive."""

    def next_after(self, t: float, anchor: float) -> float | None:
        return t


def test_a_next_fire_time_that_does_not_move_stops_the_schedule(vstore: Path) -> None:
    handle = pw.schedule(beat, every="1h")
    sched = runtime.ensure().scheduler.schedules[handle.schedule_id]
    sched.spec = _Stuck(**asdict(sched.spec))
    pw.skip("3h")  # fires once at +1h, then refuses to fire in a loop
    assert len(runs_of("beat")) == 1
    failed = [d for t, d in schedule_events(handle.schedule_id) if t == "schedule.fire_failed"]
    assert len(failed) == 1 and "does not move forward" in failed[0]["error"]["message"]
    assert handle.describe()["next_fire_times"] == []


def test_a_saved_sub_second_schedule_is_reported_not_run(vstore: Path) -> None:
    pw.schedule(beat, every="1h")
    pw.shutdown()
    con = duckdb.connect(str(vstore))  # as an older version saved it
    spec = json.loads(con.execute("SELECT spec FROM schedules").fetchall()[0][0])
    con.execute("UPDATE schedules SET spec = ?", [json.dumps({**spec, "every": 0.3})])
    con.close()
    pw.configure(store=str(vstore))
    assert pw.list_schedules() == []  # loaded nothing, hung nowhere
    pw.skip("2h")
    failed = [d for t, d in schedule_events("beat") if t == "schedule.fire_failed"]
    assert "every= must be at least 1 second" in failed[-1]["error"]["message"]
    pw.schedule(beat, every="1h")  # creating it again replaces the bad row
    pw.skip("1h")
    assert [h.schedule_id for h in pw.list_schedules()] == ["beat"]
