"""A real crash: SIGKILL a process mid-run, recover the run in a new process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from crashing import Crash

WORKER = Path(__file__).with_name("crash_worker.py")
MANY_WORKER = Path(__file__).with_name("many_crash_worker.py")
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


def test_sigkill_with_many_runs_in_flight_loses_and_repeats_no_acknowledged_step(
        tmp_path: Path) -> None:
    """20 runs at once, killed mid-way: each run's steps before its last one were acknowledged
    (the run moved past them), so none of them runs again, and every run completes."""
    marker = tmp_path / "marks.txt"
    crash = Crash(MANY_WORKER, tmp_path / "crash.duckdb", marker)
    crash.kill_after(200)
    first = [tuple(map(int, line.split())) for line in marker.read_text().splitlines()]
    last = {run: max(i for r, i in first if r == run) for run, _ in first}

    out = crash.recover()
    runs, steps = 20, 30
    assert out.split() == ["results", *[str(sum(range(steps)))] * runs]
    marks = Counter(tuple(map(int, line.split())) for line in marker.read_text().splitlines())
    assert set(marks) == {(run, i) for run in range(runs) for i in range(steps)}
    again = {key for key, n in marks.items() if n > 1}
    assert all(last.get(run) == i for run, i in again), (
        f"acknowledged steps ran again: {sorted(again)}, last steps at the kill: {last}")
