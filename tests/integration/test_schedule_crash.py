"""A kill at the exact point a schedule fire is committed loses neither the fire nor its run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("schedule_crash_worker.py")


def _worker(store: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WORKER), str(store), mode], capture_output=True,
                          text=True, timeout=60)


def test_a_kill_right_after_the_fire_commits_keeps_the_fire_and_its_run(tmp_path: Path) -> None:
    store = tmp_path / "fire.duckdb"
    fired = _worker(store, "fire")
    assert fired.returncode == -signal.SIGKILL, (
        f"the worker was to die at the fire's commit (rc {fired.returncode})\n"
        f"{fired.stdout}\n{fired.stderr}")
    recovered = _worker(store, "recover")
    assert recovered.returncode == 0, f"{recovered.stdout}\n{recovered.stderr}"
    report = json.loads(recovered.stdout.strip().splitlines()[-1])
    assert report["runs"] == [["hourly@20250101T010000Z", "hourly"]], report
    assert report["results"] == ["ticked"]
    assert (report["fired"], report["fire_count"]) == (1, 1), "the fire started one run, once"
