"""A real crash: SIGKILL a process mid-run, recover the run in a new process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pyworkflow_nb.store import DuckDBStore

WORKER = Path(__file__).with_name("crash_worker.py")
STEPS = 40


def _worker(store: Path, marker: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), str(store), str(marker), mode],
                            stdout=subprocess.PIPE, text=True)


def test_sigkill_mid_run_then_recover(tmp_path: Path) -> None:
    store, marker = tmp_path / "crash.duckdb", tmp_path / "marks.txt"
    first = _worker(store, marker, "start")
    deadline = time.time() + 60
    while not marker.exists() or len(marker.read_text().split()) < 10:
        assert first.poll() is None, "the worker finished before it could be killed"
        assert time.time() < deadline, "the worker made no progress"
        time.sleep(0.002)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    snapshot = DuckDBStore(store, read_only=True)
    committed = {int(step.split("#")[1]) - 1 for (step,) in snapshot.sql(
        "SELECT step FROM events WHERE type = 'step.completed'").fetchall()}
    status = snapshot.sql("SELECT status FROM runs WHERE run_id = 'crash'").fetchall()
    snapshot.close()
    assert committed, "no step completion was committed before the kill"
    assert len(committed) < STEPS
    assert status == [("running",)]

    second = _worker(store, marker, "recover")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0
    assert f"result {sum(range(STEPS))}" in out

    runs = Counter(int(line) for line in marker.read_text().split())
    assert set(runs) == set(range(STEPS))
    assert all(runs[i] == 1 for i in committed), "a step whose completion was committed ran again"
    # Only the step that was running at the kill may have run twice.
    assert sum(runs.values()) - STEPS <= 1
