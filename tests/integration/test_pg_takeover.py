"""Processes sharing a PostgreSQL store: each run is leased to one of them, and when a process
dies (kill -9) a worker takes its runs over once the lease expired, running again only the
steps whose completion never reached the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from pg_processes import pg_value, start_worker, until
from pg_server import fresh_database

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")

RUNS, STEPS, GATE = 8, 10, 3
LEASE = 1.5

APP = f'''
import asyncio
import os

import pyworkflow_nb as pw

pw.configure(lease=os.environ.get("TAKEOVER_LEASE", "{LEASE}s"))
HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.path.join(HERE, "steps.log")


@pw.step
async def work(run, i):
    with open(LOG, "a") as f:
        f.write(f"{{os.getpid()}} {{run}} {{i}}\\n")
    while i == {GATE} and not os.path.exists(os.path.join(HERE, "go")):
        await asyncio.sleep(0.02)
    return i


@pw.workflow
async def takeover_chain(run):
    total = 0
    for i in range({STEPS}):
        total += await work(run, i)
    return total
'''

STARTER = f'''
import sys
import time
import pyworkflow_nb as pw
import app
client = pw.SyncClient()
for n in range(int(sys.argv[1])):
    client.start(app.takeover_chain, f"r{{n}}", run_id=f"r{{n}}")
print("started", flush=True)
if sys.argv[2] == "shutdown":
    while len(open(app.LOG).read().splitlines()) < int(sys.argv[1]) * {GATE + 1}:
        time.sleep(0.02)  # every run is at the gate
    pw.shutdown()
    print("stopped", flush=True)
else:
    time.sleep(600)  # the runs go on until the test kills this process
'''


def _executions(log: Path) -> list[tuple[int, str, int]]:
    if not log.exists():
        return []
    return [(int(pid), run, int(i)) for pid, run, i in
            (line.split() for line in log.read_text().splitlines() if line.count(" ") == 2)]


def test_a_worker_takes_over_the_runs_of_a_killed_process(tmp_path: Path,
                                                           pg_server: str) -> None:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {**os.environ, "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path)}
    log = tmp_path / "steps.log"
    starter = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STARTER), str(RUNS),
                                "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    worker = None
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline().strip() == "started"
        worker = start_worker(tmp_path, env)
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert "resumed 0 runs" in ready, ready
        began = pg_value(url, "SELECT now()")
        done_before_gate = "SELECT count(*) FROM events WHERE type = 'step.completed'"
        until(lambda: pg_value(url, done_before_gate) == RUNS * GATE, "the steps before the gate")
        until(lambda: pg_value(url, "SELECT min(expires_at) FROM leases") > began,
               "the starter to renew its leases while the worker runs")
        assert {pid for pid, _, _ in _executions(log)} == {starter.pid}, \
            "the worker leaves the runs of a live process alone"
        holder = pg_value(url, "SELECT owner FROM leases WHERE run_id = 'r0'")
        assert str(holder).split(":")[1] == str(starter.pid), "host:pid:tag"

        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=30)
        (tmp_path / "go").touch()
        until(lambda: pg_value(url, "SELECT count(*) FROM runs WHERE status = 'completed'")
               == RUNS, "the worker to complete every run")
        with psycopg.connect(url) as con:
            results = con.execute("SELECT run_id, result::text FROM runs").fetchall()
            completions = Counter(run_id for (run_id,) in con.execute(
                "SELECT run_id FROM events WHERE type = 'step.completed'").fetchall())
            leases = con.execute("SELECT count(*) FROM leases").fetchone()
    finally:
        for proc in (starter, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    assert sorted(results) == [(f"r{n}", str(sum(range(STEPS)))) for n in range(RUNS)]
    assert completions == Counter({f"r{n}": STEPS for n in range(RUNS)}), "each step once"
    assert leases == (0,), "a run's lease goes when it ends"
    by_worker: dict[str, list[int]] = {}
    for pid, run, i in _executions(log):
        if pid == worker.pid:
            by_worker.setdefault(run, []).append(i)
    assert by_worker == {f"r{n}": list(range(GATE, STEPS)) for n in range(RUNS)}, \
        "the worker runs exactly the steps whose completion was not committed"


def test_a_clean_stop_gives_the_leases_up_and_a_worker_takes_the_runs_at_once(
        tmp_path: Path, pg_server: str) -> None:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {**os.environ, "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path),
           "TAKEOVER_LEASE": "10m"}  # only a release lets the worker take them now
    stopped = subprocess.run([sys.executable, "-c", textwrap.dedent(STARTER), "2", "shutdown"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.stdout.split() == ["started", "stopped"], stopped.stdout + stopped.stderr
    assert pg_value(url, "SELECT count(*) FROM runs WHERE status = 'running'") == 2
    assert pg_value(url, "SELECT count(*) FROM leases") == 0

    (tmp_path / "go").touch()
    worker = start_worker(tmp_path, env)
    try:
        assert worker.stdout is not None
        assert "resumed 2 runs" in worker.stdout.readline()
        until(lambda: pg_value(url, "SELECT count(*) FROM runs WHERE status = 'completed'") == 2,
               "the worker to complete the runs")
    finally:
        worker.kill()
        worker.wait(timeout=30)
