"""``pyworkflow-nb worker``: a process that runs an app's workflows from the store until SIGTERM.

Runs started by a script resume in the worker; ``--concurrency`` caps the step attempts in
flight; SIGTERM releases a step in flight, which the next worker runs again.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

APP = '''
import asyncio
import os

import pyworkflow_nb as pw

HERE = os.path.dirname(os.path.abspath(__file__))
load = {"now": 0, "peak": 0}


def mark(label):
    with open(os.path.join(HERE, "marks.txt"), "a") as f:
        f.write(label + "\\n")


@pw.step
async def note(label):
    mark(label)
    return label


@pw.step
async def hold(i):
    load["now"] += 1
    load["peak"] = max(load["peak"], load["now"])
    await asyncio.sleep(0.05)
    load["now"] -= 1
    return load["peak"]


@pw.step
async def gate():
    mark("gate attempt")
    while not os.path.exists(os.path.join(HERE, "release")):
        await asyncio.sleep(0.02)
    return "through"


@pw.workflow
async def nap(label):
    await pw.sleep("1s")
    return await note(label)


@pw.workflow
async def wide(n):
    return max(await asyncio.gather(*(hold(i) for i in range(n))))


@pw.workflow
async def gated():
    return await gate()
'''

STARTER = '''
import sys
import pyworkflow_nb as pw
import app
client = pw.SyncClient()
client.start(app.nap, "rested", run_id="nap-1")
client.start(app.wide, 6, run_id="wide-1")
client.start(app.gated, run_id="gate-1")
pw.shutdown()
'''


class Worker:
    """A worker process whose output lines are read as they come."""

    def __init__(self, cwd: Path, store: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyworkflow_nb", "--store", str(store), "worker",
             "--app", "app", *extra], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                raise AssertionError(f"no {text!r} from the worker: {self.seen}") from None

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.seen
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen[-1]


def _until(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_worker_resumes_runs_caps_steps_and_releases_them_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    store = tmp_path / "runs.duckdb"
    env = {**os.environ, "PYWORKFLOW_NB_STORE": str(store), "PYTHONPATH": str(tmp_path)}
    subprocess.run([sys.executable, "-c", textwrap.dedent(STARTER)], cwd=tmp_path, env=env,
                   check=True, timeout=60)

    first = Worker(tmp_path, store, "--concurrency", "2")
    first.wait_for("run nap-1 completed")
    first.wait_for("run wide-1 completed")
    marks = tmp_path / "marks.txt"
    _until(lambda: "gate attempt" in marks.read_text())
    assert "1 unfinished" in first.stop(), "the gate step was in flight: released"

    (tmp_path / "release").touch()
    second = Worker(tmp_path, store)
    second.wait_for("run gate-1 completed")
    assert "0 unfinished" in second.stop()
    assert not store.with_name("runs.duckdb.journal").exists(), "closed as one file"

    pw.configure(store=str(store), read_only=True)
    try:
        client = pw.SyncClient()
        assert client.get_run("wide-1").result() == 2, "--concurrency 2: two holds at a time"
        assert client.get_run("nap-1").result() == "rested"
        assert client.get_run("gate-1").result() == "through"
    finally:
        pw.shutdown()
        runtime.config = Config()
    assert marks.read_text().count("gate attempt") >= 2, "the released attempt ran again"
    assert marks.read_text().count("rested") == 1
