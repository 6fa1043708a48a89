"""Schedules: fire times, overlap, jitter, timezones, pause/resume, backfill, changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from schedule_helpers import START, runs_of, schedule_events

import pyworkflow_nb as pw

HOUR = 3600.0


@pw.workflow
async def tick(n: int = 0) -> int:
    return n


@pw.workflow
async def hold(tag: str = "") -> str:
    await pw.wait_for_event("go")
    return tag


def release(handle: pw.RunHandle) -> None:
    pw.SyncClient().get_run(handle.run_id).send_event("go")
    pw.skip(0)


def test_cron_fires_in_order_with_schedule_id_and_scheduled_time(any_vstore):
    sched = pw.schedule(tick, cron="0 9 * * *", args=[7])
    pw.skip("3d")
    runs = runs_of("tick")
    assert [r.run_id for r in runs] == [
        "tick@20250101T090000Z", "tick@20250102T090000Z", "tick@20250103T090000Z"]
    for day, run in enumerate(runs):
        row = run.row()
        assert row.schedule_id == "tick"
        assert row.scheduled_at == (START + timedelta(days=day, hours=9)).timestamp()
        assert row.created_at == row.scheduled_at  # started exactly on time (virtual clock)
        assert pw.SyncClient().get_run(run.run_id).result() == 7
    info = sched.describe()
    assert info["fire_count"] == 3
    assert info["next_fire_times"][0] == "2025-01-04T09:00:00.000Z"
    assert next(r["run_id"] for r in info["last_runs"]) == "tick@20250103T090000Z"


def test_every_with_start_at_and_end_at(any_vstore):
    start = START + timedelta(hours=1)
    sched = pw.schedule(tick, every="30m", start_at=start, end_at=start + timedelta(hours=2))
    pw.skip("1d")
    times = [r.row().scheduled_at for r in runs_of("tick")]
    assert times == [start.timestamp() + k * 1800 for k in range(5)]
    assert sched.describe()["next_fire_times"] == []
    assert pw.sql("SELECT next_fire_at FROM schedules").fetchall() == [(None,)]


def test_overlap_skip(any_vstore):
    pw.schedule(hold, every="1h", overlap="skip")
    pw.skip("3h")
    runs = runs_of("hold")
    assert len(runs) == 1 and runs[0].status() == "waiting"
    skipped = [d for t, d in schedule_events("hold") if t == "schedule.skipped"]
    assert [d["reason"] for d in skipped] == ["overlap", "overlap"]
    release(runs[0])
    pw.skip("1h")
    assert len(runs_of("hold")) == 2


def test_overlap_buffer_one_keeps_one_fire(any_vstore):
    pw.schedule(hold, every="1h", overlap="buffer_one")
    pw.skip("3h")  # fires at +1h (runs), +2h (buffered), +3h (skipped: buffer full)
    assert len(runs_of("hold")) == 1
    types = [t for t, _ in schedule_events("hold")]
    assert types.count("schedule.buffered") == 1 and types.count("schedule.skipped") == 1
    release(runs_of("hold")[0])
    runs = runs_of("hold")
    assert len(runs) == 2
    assert runs[1].row().scheduled_at == (START + timedelta(hours=2)).timestamp()


def test_overlap_buffer_all_runs_each_in_turn(any_vstore):
    pw.schedule(hold, every="1h", overlap="buffer_all")
    pw.skip("3h")
    assert len(runs_of("hold")) == 1
    for expected in (2, 3):
        release(next(r for r in runs_of("hold") if r.status() == "waiting"))
        assert len(runs_of("hold")) == expected
    assert pw.get_schedule("hold").describe()["buffered"] == []


def test_overlap_cancel_other(any_vstore):
    pw.schedule(hold, every="1h", overlap="cancel_other")
    pw.skip("2h")
    first, second = runs_of("hold")
    assert first.status() == "cancelled"
    assert second.status() == "waiting"


def test_overlap_allow_runs_concurrently(any_vstore):
    pw.schedule(hold, every="1h", overlap="allow")
    pw.skip("3h")
    assert [r.status() for r in runs_of("hold")] == ["waiting"] * 3


def test_jitter_is_deterministic_and_recorded(any_vstore):
    pw.schedule(tick, every="1h", jitter="10m")
    pw.skip("5h10m")
    fired = [d for t, d in schedule_events("tick") if t == "schedule.fired"]
    jitters = [d["jitter"] for d in fired]
    assert len(fired) == 5 and all(0 <= j < 600 for j in jitters)
    assert len(set(jitters)) == 5
    for run, data in zip(runs_of("tick"), fired, strict=True):
        row = run.row()
        assert row.scheduled_at == data["scheduled_at"]
        assert row.created_at == pytest.approx(row.scheduled_at + data["jitter"])
    spec = pw.get_schedule("tick")._state().spec
    assert [spec.jitter_for("tick", d["scheduled_at"]) for d in fired] == jitters


def test_timezone_follows_dst(any_vstore):
    pw.shutdown()
    pw.use_virtual_clock(datetime(2025, 3, 28, 12, tzinfo=timezone.utc))
    pw.schedule(tick, cron="0 9 * * *", timezone="Europe/Paris")
    pw.schedule(tick, cron="30 2 * * *", timezone="Europe/Paris", schedule_id="night")
    pw.skip("4d")
    nine = [r.row().scheduled_at for r in runs_of("tick") if r.row().schedule_id == "tick"]
    hours = [datetime.fromtimestamp(t, timezone.utc).hour for t in nine]
    assert hours == [8, 7, 7, 7]  # 09:00 CET = 08:00 UTC; from 30 March CEST: 07:00 UTC
    night = [datetime.fromtimestamp(r.row().scheduled_at, timezone.utc)
             for r in runs_of("tick") if r.row().schedule_id == "night"]
    # 02:30 does not exist on 30 March in Paris: that day's fire is at 03:00 CEST
    assert [d.strftime("%d %H:%M") for d in night] == ["29 01:30", "30 01:00", "31 00:30",
                                                       "01 00:30"]


def test_timezone_fires_once_when_dst_ends(any_vstore):
    pw.shutdown()
    pw.use_virtual_clock(datetime(2025, 10, 25, 12, tzinfo=timezone.utc))
    pw.schedule(tick, cron="30 2 * * *", timezone="Europe/Paris")
    pw.skip("2d")
    days = [datetime.fromtimestamp(r.row().scheduled_at, timezone.utc).strftime("%d %H:%M")
            for r in runs_of("tick")]
    assert days == ["26 00:30", "27 01:30"]  # 02:30 happens twice on the 26th: fired once


def test_pause_and_resume(any_vstore):
    sched = pw.schedule(tick, every="1h")
    pw.skip("1h")
    sched.pause(note="maintenance")
    assert sched.status() == "paused"
    pw.skip("5h")
    assert len(runs_of("tick")) == 1
    sched.resume(note="done")
    pw.skip("90m")  # resumed at +6h: next fire at +7h
    times = [r.row().scheduled_at for r in runs_of("tick")]
    assert times == [(START + timedelta(hours=h)).timestamp() for h in (1, 7)]
    notes = [(t, d.get("note")) for t, d in schedule_events("tick")
             if t in ("schedule.paused", "schedule.resumed")]
    assert notes == [("schedule.paused", "maintenance"), ("schedule.resumed", "done")]


def test_backfill_range_is_inclusive_and_idempotent(any_vstore):
    sched = pw.schedule(tick, cron="0 6 * * *", args=[1])
    start, end = datetime(2024, 12, 1, 6, tzinfo=timezone.utc), "2024-12-04T06:00:00Z"
    handles = sched.backfill(start, end)
    assert [h.run_id for h in handles] == [f"tick@202412{d:02d}T060000Z" for d in range(1, 5)]
    pw.skip(0)
    assert all(h.status() == "completed" for h in handles)
    again = sched.backfill(datetime(2024, 12, 3, tzinfo=timezone.utc), end)
    assert [h.run_id for h in again] == [h.run_id for h in handles[2:]]
    assert len(pw.list_runs(workflow="tick")) == 4
    assert sched.backfill(end, end)[0].run_id == handles[-1].run_id
    assert sched.backfill("2024-12-04T07:00:00Z", "2024-12-04T08:00:00Z") == []


def test_trigger_update_delete(any_vstore):
    sched = pw.schedule(tick, every="1h", args=[1])
    sched.pause()
    run = sched.trigger()
    assert pw.SyncClient().get_run(run.run_id).result() == 1
    assert run.row().schedule_id == "tick"
    sched.update(every="2h", args=[2])
    sched.resume()
    pw.skip("2h")
    last = runs_of("tick")[-1]
    assert pw.SyncClient().get_run(last.run_id).result() == 2
    changes = [d["changes"] for t, d in schedule_events("tick") if t == "schedule.updated"]
    assert changes == [{"every": 7200.0, "input": {"args": [2], "kwargs": {}}}]
    sched.delete()
    assert pw.list_schedules() == []
    assert pw.sql("SELECT count(*) FROM schedules").fetchall() == [(0,)]
    with pytest.raises(pw.InvalidInput, match="no schedule with id 'tick'"):
        sched.pause()
    pw.skip("1d")
    assert len(runs_of("tick")) == 2


def test_schedule_call_is_idempotent(any_vstore):
    a = pw.schedule(tick, cron="0 * * * *")
    b = pw.schedule(tick, cron="0 * * * *")
    assert a == b and len(pw.list_schedules()) == 1
    pw.schedule(tick, cron="30 * * * *")
    types = [t for t, _ in schedule_events("tick")]
    assert types == ["schedule.created", "schedule.updated"]
    assert pw.get_schedule("tick").describe()["cron"] == "30 * * * *"


def test_decorator_forms(any_vstore):
    @pw.schedule(every="1h", schedule_id="deco")
    @pw.workflow(name="deco_wf")
    async def deco_wf() -> str:
        return "ok"

    @pw.workflow(name="cron_wf", schedule="*/5 * * * *")
    async def cron_wf() -> str:
        return "ok"

    pw.skip("1h")
    assert len(runs_of("deco_wf")) == 1
    assert len(runs_of("cron_wf")) == 12

    @pw.schedule(every="1h", schedule_id="deco")  # the cell runs again: same schedule
    @pw.workflow(name="deco_wf")
    async def deco_wf_again() -> str:
        return "ok"

    assert sorted(h.schedule_id for h in pw.list_schedules()) == ["cron_wf", "deco"]
    assert [t for t, _ in schedule_events("deco")].count("schedule.created") == 1


def test_decorator_before_the_engine_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pw.shutdown()
    pw.configure(store=str(tmp_path / "late.duckdb"))
    pw.use_virtual_clock(START)
    try:
        @pw.schedule(every="1h", schedule_id="early")
        @pw.workflow(name="early_wf")
        async def early_wf() -> int:
            return 1

        assert pw.get_schedule("early").status() == "active"
        pw.skip("2h")
        assert len(runs_of("early_wf")) == 2
    finally:
        pw.shutdown()
        pw.use_real_clock()


@pytest.mark.parametrize(("options", "message"), [
    ({"cron": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*'"),
    ({"cron": "every day"}, "invalid cron expression"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
    ({"every": "1h", "overlap": "queue"}, "invalid overlap policy 'queue': use one of"),
    ({"every": "1h", "catchup": "some"}, "invalid catchup policy 'some'"),
    ({}, "exactly one of cron="),
    ({"cron": "0 9 * * *", "every": "1h"}, "exactly one of cron="),
    ({"every": "0s"}, "every= must be at least 1 second"),
    ({"every": "300ms"}, "every= must be at least 1 second, got 0.3 s"),
    ({"every": "soon"}, "invalid schedule every="),
    ({"every": "1h", "jitter": "-1s"}, "schedule jitter must not be negative"),
    ({"every": "1h", "start_at": "2025-02-01", "end_at": "2025-01-01"},
     "end_at must be later than start_at"),
    ({"every": "1h", "start_at": "tomorrow"}, "invalid start_at 'tomorrow'"),
    ({"every": "1h", "args": "abc"}, "schedule args must be a list"),
    ({"every": "1h", "schedule_id": "a/b"}, "invalid schedule_id 'a/b'"),
])
def test_bad_input_is_rejected_with_a_clear_message(any_vstore, options, message):
    with pytest.raises(pw.InvalidInput, match=message):
        pw.schedule(tick, **options)
    assert pw.list_schedules() == []


def test_bad_target_and_bad_update(any_vstore):
    with pytest.raises(pw.InvalidInput, match=r"put @pw\.schedule"):
        pw.schedule(cron="0 9 * * *")(lambda: None)
    with pytest.raises(pw.InvalidInput, match="no schedule with id 'nope'"):
        pw.get_schedule("nope")
    sched = pw.schedule(tick, every="1h")
    with pytest.raises(pw.InvalidInput, match="unknown schedule setting 'cronn'"):
        sched.update(cronn="0 9 * * *")
    with pytest.raises(pw.InvalidInput, match="invalid cron expression"):
        sched.update(cron="0 25 * * *")
    with pytest.raises(pw.InvalidInput, match="backfill end must not be earlier"):
        sched.backfill("2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z")
    with pytest.raises(pw.InvalidInput, match="schedule= takes a cron expression"):
        pw.workflow(schedule=42)(tick.fn)
    assert sched.describe()["every"] == 3600.0
