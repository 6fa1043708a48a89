"""Worker processes sharing a PostgreSQL store: runs started with ``executor="workers"`` are
taken by the workers in batches, and when one worker is killed -9 mid-way the others take its
runs over: every run completes, and no step is recorded twice. A notebook that hands a run to
a worker watches its timeline live and sends it events.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from notebook_kernel import kernel_name
from pg_processes import pg_value, start_worker, until
from pg_server import fresh_database
from widget_kernel import widget_kernel

import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_data import apply_delta
from pyworkflow_nb.runtime import Config, runtime

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")

__all__ = ["kernel_name"]
TIMELINE = "pyworkflow_nb.notebook.timeline_widget.TimelineWidget"
TABLE = "pyworkflow_nb.notebook.runs_table_widget.RunsTable"

RUNS, STEPS = 500, 3

APP = f'''
import asyncio
import os

import pyworkflow_nb as pw

pw.configure(lease="1.5s")
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "steps.log")


@pw.step
async def pooled_step(n, i):
    with open(LOG, "a") as f:
        f.write(f"{{os.getpid()}} {{n}} {{i}}\\n")
    await asyncio.sleep(0.2)
    return n * i


@pw.workflow
async def pooled(n):
    total = 0
    for i in range({STEPS}):
        total += await pooled_step(n, i)
    return total
'''

STARTER = f'''
import pyworkflow_nb as pw
import app
pw.configure(executor="workers")
client = pw.SyncClient()
handles = [client.start(app.pooled, n, run_id=f"p{{n:03d}}") for n in range({RUNS})]
print(handles[-1].status(), flush=True)
pw.shutdown()
'''


def test_three_workers_share_runs_and_survive_a_kill(tmp_path: Path, pg_server: str) -> None:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {**os.environ, "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path)}
    workers = [start_worker(tmp_path, env) for _ in range(3)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert "resumed 0 runs" in worker.stdout.readline()
        starter = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STARTER)],
                                   cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        completed = "SELECT count(*) FROM runs WHERE status = 'completed'"
        victim = workers[0]
        held = f"SELECT count(*) FROM leases WHERE owner LIKE '%:{victim.pid}:%'"
        until(lambda: pg_value(url, completed) >= RUNS // 4 and pg_value(url, held) > 0,
              "a quarter of the runs, and runs in flight in the first worker", timeout=120)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert starter.communicate(timeout=60)[0].split()[-1] in ("pending", "running",
                                                                  "completed")
        until(lambda: pg_value(url, completed) == RUNS, "every run to complete", timeout=120)
        with psycopg.connect(url) as con:
            completions = Counter(run_id for (run_id,) in con.execute(
                "SELECT run_id FROM events WHERE type = 'step.completed'").fetchall())
            wrong = con.execute("SELECT run_id, result::text FROM runs WHERE result::text <> "
                                "(CAST(substr(run_id, 2) AS INTEGER) * 3)::text").fetchall()
            leases = pg_value(url, "SELECT count(*) FROM leases")
        pw.configure(store=url)
        try:
            assert pw.SyncClient().get_run("p007").result(timeout="10s") == 21, \
                "another process reads a worker's result"
        finally:
            pw.shutdown()
            runtime.config = Config()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)

    assert completions == Counter({f"p{n:03d}": STEPS for n in range(RUNS)}), \
        "each step's completion is recorded once"
    assert wrong == []
    assert leases == 0
    runners = Counter(line.split()[0] for line in (tmp_path / "steps.log").read_text()
                      .splitlines())
    assert len(runners) == 3, f"the three workers shared the runs: {runners}"


HANDED_APP = '''
import pyworkflow_nb as pw


@pw.step
async def handed_step(i):
    return i * 10


@pw.workflow
async def handed(n):
    total = 0
    for i in range(n):
        total += await handed_step(i)
    return total + await pw.wait_for_event("go")
'''


def test_a_notebook_hands_a_run_to_a_worker_and_watches_it_live(
        tmp_path: Path, pg_server: str, kernel_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDED_APP))
    monkeypatch.setenv("PYWORKFLOW_NB_STORE", url)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    worker = start_worker(tmp_path)
    try:
        assert worker.stdout is not None
        assert "resumed 0 runs" in worker.stdout.readline()
        with widget_kernel(tmp_path, kernel_name) as k:
            k.execute("%load_ext pyworkflow_nb\nimport pyworkflow_nb as pw\nimport app\n"
                      "pw.configure(executor='workers')")
            k.execute("h = pw.SyncClient().start(app.handed, 3)\nh")
            widget = k.model_of(TIMELINE)
            state = copy.deepcopy(k.opened[widget]["state"])
            seen = 0

            def applied() -> dict[str, Any]:
                nonlocal state, seen
                for content in k.replies(widget, "delta")[seen:]:
                    state = apply_delta(state, content["delta"])
                    seen += 1
                return state

            k.pump(lambda: applied()["run"]["status"] == "waiting", timeout=30)
            assert applied()["progress"]["done"] == 3, "the worker's steps show as they end"
            k.execute("pw.runs_table()")
            table = k.model_of(TABLE)
            assert [r["status"] for r in k.models[table]["runs"]] == ["waiting"]
            k.execute("h.send_event('go', 5)")
            k.pump(lambda: applied()["run"]["status"] == "completed", timeout=30)
            k.pump(lambda: [r["status"] for r in k.models[table]["runs"]] == ["completed"],
                   timeout=10)
            k.pump(lambda: widget in k.closed)
            assert "completed" in k.displays[-1]["text/html"], "settled into the static view"
            assert k.execute("print(h.result())").strip() == "35"
    finally:
        worker.kill()
        worker.wait(timeout=30)
