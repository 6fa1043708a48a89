"""Restart with a real store file: missed fires catch up; v1 stores upgrade in place."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from schedule_helpers import START, runs_of, schedule_events

import pyworkflow_nb as pw
from pyworkflow_nb.store.duckdb_store import SCHEMA_VERSION


@pw.workflow
async def report(day: str = "") -> str:
    return day


@pw.workflow
async def long_job() -> str:
    await pw.sleep("90m")
    return "done"


def restart_at(hours: float) -> None:
    """Stop the engine, then start it again ``hours`` after START (same store file)."""
    pw.shutdown()
    pw.use_virtual_clock(START + timedelta(hours=hours))
    pw.list_schedules()  # starts the engine: the scheduler loads and catches up
    pw.skip(0)


@pytest.mark.parametrize(("catchup", "fired"), [
    ("latest", [1, 5]), ("all", [1, 2, 3, 4, 5]), ("none", [1])])
def test_catchup_after_restart(any_vstore: str, catchup: str, fired: list[int]):
    pw.schedule(report, every="1h", catchup=catchup)
    pw.skip("1h")
    restart_at(5.5)  # down from +1h to +5.5h: fires at +2h..+5h were missed
    times = [r.row().scheduled_at for r in runs_of("report")]
    assert times == [(START + timedelta(hours=h)).timestamp() for h in fired]
    pw.skip("30m")  # back on schedule: +6h fires normally
    assert runs_of("report")[-1].row().scheduled_at == (START + timedelta(hours=6)).timestamp()
    reasons = [d["reason"] for t, d in schedule_events("report") if t == "schedule.fired"]
    expected_catchup = {"latest": 1, "all": 4, "none": 0}[catchup]
    assert len(reasons) - reasons.count("schedule") == expected_catchup  # catchup/buffered


def test_restart_keeps_overlap_tracking_and_buffered_fires(any_vstore: str):
    pw.schedule(long_job, every="1h", overlap="buffer_one", catchup="none")
    pw.skip("2h")  # +1h runs (sleeps until +2.5h); +2h is buffered
    assert pw.get_schedule("long_job").describe()["buffered"] == ["2025-01-01T02:00:00.000Z"]
    restart_at(2.25)
    assert len(runs_of("long_job")) == 1
    pw.skip("15m")  # the first run ends at +2.5h and the buffered fire starts
    runs = runs_of("long_job")
    assert [r.row().scheduled_at for r in runs] == [
        (START + timedelta(hours=h)).timestamp() for h in (1, 2)]
    assert runs[0].status() == "completed" and runs[1].status() == "sleeping"


def test_version_1_store_upgrades_in_place(tmp_path: Path):
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute((Path(__file__).parent / "schema_v1.sql").read_text())
    con.execute("INSERT INTO pw_meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO runs (run_id, workflow, status, input, created_at, updated_at, "
                "finished_at, result) VALUES ('old', 'report', 'completed', "
                "'{\"args\":[],\"kwargs\":{}}', TIMESTAMP '2024-01-01', "
                "TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01', '\"v1\"')")
    con.close()
    pw.shutdown()
    pw.configure(store=str(path))
    pw.use_virtual_clock(START)
    try:
        assert pw.SyncClient().get_run("old").result() == "v1"
        pw.schedule(report, every="1h")
        pw.skip("1h")
        assert len(pw.list_runs(workflow="report")) == 2
        assert pw.sql("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchall() \
            == [(str(SCHEMA_VERSION),)]
    finally:
        pw.shutdown()
    pw.configure(store=str(path))  # opens again without migrating twice
    try:
        assert [h.schedule_id for h in pw.list_schedules()] == ["report"]
    finally:
        pw.shutdown()
        pw.use_real_clock()
