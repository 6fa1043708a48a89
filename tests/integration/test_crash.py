"""A real crash: SIGKILL a process mid-run, recover the run in a new process."""

from __future__ import annotations

from pathlib import Path

from crashing import Crash

WORKER = Path(__file__).with_name("crash_worker.py")
STEPS = 40


def test_sigkill_mid_run_then_recover(tmp_path: Path) -> None:
    crash = Crash(WORKER, tmp_path / "crash.duckdb", tmp_path / "marks.txt")
    crash.kill_after(10)
    committed = {int(step.split("#")[1]) - 1 for step in crash.completed_steps("crash")}
    assert committed, "no step completion was committed before the kill"
    assert len(committed) < STEPS
    assert crash.sql("SELECT status FROM runs WHERE run_id = 'crash'") == [("running",)]

    assert f"result {sum(range(STEPS))}" in crash.recover()

    runs = crash.marks()
    assert set(runs) == set(range(STEPS))
    assert all(runs[i] == 1 for i in committed), "a step whose completion was committed ran again"
    # Only the step that was running at the kill may have run twice.
    assert sum(runs.values()) - STEPS <= 1
