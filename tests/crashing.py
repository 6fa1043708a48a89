"""A real crash for tests: a worker process is SIGKILLed once it has left enough marks in a
file, then started again on the same store to recover its run.

A worker script takes ``STORE MARKER start|recover``, appends one line per step it runs to
MARKER, and prints ``result ...`` once its run ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pyworkflow_nb.store import DuckDBStore


class Crash:
    """One worker script, its store and its marker file."""

    def __init__(self, worker: Path, store: Path, marker: Path) -> None:
        self.worker, self.store, self.marker = worker, store, marker

    def _spawn(self, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(self.worker), str(self.store), str(self.marker), mode],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def kill_after(self, marks: int, timeout: float = 60) -> None:
        """Start the run and SIGKILL its process once ``marks`` steps have run."""
        first = self._spawn("start")
        deadline = time.monotonic() + timeout
        while not self.marker.exists() or len(self.marker.read_text().split()) < marks:
            if first.poll() is not None:
                raise AssertionError("the worker ended before it could be killed:\n"
                                     + first.communicate()[0])
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.002)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read the killed worker's store (read-only)."""
        snapshot = DuckDBStore(self.store, read_only=True)
        try:
            return list(snapshot.sql(query, params).fetchall())
        finally:
            snapshot.close()

    def completed_steps(self, run_id: str) -> list[str]:
        """The ids of the steps whose completion the store holds."""
        return [step for (step,) in self.sql(
            "SELECT step FROM events WHERE run_id = ? AND type = 'step.completed'", [run_id])]

    def recover(self) -> str:
        """Start the worker again to recover the run; returns what it printed."""
        second = self._spawn("recover")
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out
        return out

    def marks(self) -> Counter[int]:
        """How many times each step ran, over both processes."""
        return Counter(int(line) for line in self.marker.read_text().split())
