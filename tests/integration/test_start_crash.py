"""A run whose start returned survives a kill -9 that comes right after, through either API."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyworkflow_nb.store import DuckDBStore

WORKER = Path(__file__).with_name("start_crash_worker.py")


@pytest.mark.parametrize("api", ["async", "sync"])
def test_a_run_whose_start_returned_exists_after_a_kill(tmp_path: Path, api: str) -> None:
    store = tmp_path / "s.duckdb"
    for _ in range(3):
        done = subprocess.run([sys.executable, str(WORKER), str(store), api],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == -signal.SIGKILL, done.stderr
        run_id = done.stdout.strip()
        opened = DuckDBStore(store)
        try:
            row = opened.get_run(run_id)
        finally:
            opened.close()
        assert row is not None and row.workflow == "started_then_killed", run_id
