"""Messages across processes sharing a PostgreSQL store: events, signals, updates, cancels,
terminates, pauses and resumes sent from one process reach a run another process executes
(stored, then notified), exactly once, and wait in the store while no process holds the run;
an update's answer comes back from the events it records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pg_processes import pg_execute, pg_rows, start_worker, until
from pg_server import fresh_database

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")

APP = '''
import os

import pyworkflow_nb as pw

pw.configure(lease=os.environ.get("MESSAGES_LEASE", "1.5s"))


@pw.step
async def wrap(items):
    return "+".join(items)


def at_least_none(limit):
    if limit < 0:
        raise ValueError(f"take at least 0 items, not {limit}")


@pw.workflow
async def messaged_cart(needed):
    items = []
    pw.set_signal_handler("add", items.append)
    pw.set_update_handler("take", lambda limit: items[:limit], validator=at_least_none)
    got = await pw.wait_for_event("approve")
    await pw.wait_condition(lambda: len(items) >= needed)
    return {"by": got["by"], "items": await wrap(items)}


@pw.workflow
async def messaged_idle():
    await pw.wait_for_event("never")
'''

WORKER = '''
import sys
import time
import pyworkflow_nb as pw
import app
client = pw.SyncClient()
for run_id in sys.argv[1:]:
    workflow = app.messaged_cart if run_id.startswith("cart") else app.messaged_idle
    started = client.start(workflow, *([2] if run_id.startswith("cart") else []), run_id=run_id)
    started.status()  # (a handle's first use waits until its start is durable)
print("started", flush=True)
time.sleep(600)  # runs go on until the test stops this process
'''


def _status(url: str, run_id: str) -> object:
    rows = pg_rows(url, f"SELECT status FROM runs WHERE run_id = '{run_id}'")
    return rows[0][0] if rows else None


def _executor(tmp_path: Path, env: dict[str, str], *run_ids: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WORKER), *run_ids],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "started", line + proc.stdout.read()
    return proc


@pytest.fixture
def shared(tmp_path: Path, pg_server: str) -> tuple[str, dict[str, str]]:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    return url, {**os.environ, "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path)}


def test_calls_from_another_process_reach_the_run_where_it_executes(
        tmp_path: Path, shared: tuple[str, dict[str, str]]) -> None:
    url, env = shared
    proc = _executor(tmp_path, env, "cart-1", "idle-1", "idle-2", "idle-3")
    pw.configure(store=url)  # this process defines neither workflow: it holds no run
    try:
        client = pw.SyncClient()
        cart = client.get_run("cart-1")
        cart.signal("add", "tea")
        assert cart.update("take", 5) == ["tea"], "the answer comes back from the worker"
        with pytest.raises(pw.UpdateRejected, match="take at least 0 items, not -1"):
            cart.update("take", -1)
        cart.send_event("approve", {"by": "ana"})
        cart.signal("add", "milk")
        assert cart.result(timeout="30s") == {"by": "ana", "items": "tea+milk"}

        client.get_run("idle-1").cancel(reason="not needed")
        client.get_run("idle-2").terminate(reason="gone")
        idle3 = client.get_run("idle-3")
        idle3.pause()
        until(lambda: idle3.status() == "paused", "the pause")
        idle3.resume()
        until(lambda: idle3.status() == "waiting", "the resume")
        with pytest.raises(pw.InvalidInput, match="anything"):
            idle3.update("anything")
        assert idle3.status() == "waiting"
        cancelled, terminated = (client.get_run(r) for r in ("idle-1", "idle-2"))
        until(lambda: (cancelled.status(), terminated.status()) == ("cancelled", "terminated"),
               "the cancel and the terminate")
    finally:
        pw.shutdown()
        runtime.config = Config()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    received = pg_rows(url, "SELECT type, count(*) FROM events WHERE run_id = 'cart-1' AND type "
                          "IN ('event.received', 'signal.received') GROUP BY type ORDER BY type")
    assert received == [("event.received", 1), ("signal.received", 2)], "each message once"
    assert pg_rows(url, "SELECT count(*) FROM inbox") == [(0,)], "applied messages are deleted"


def test_a_message_waits_in_the_store_until_a_process_takes_the_run(
        tmp_path: Path, shared: tuple[str, dict[str, str]]) -> None:
    url, env = shared
    env = {**env, "MESSAGES_LEASE": "10m"}
    first = _executor(tmp_path, env, "cart-2")
    first.send_signal(signal.SIGKILL)  # holds the lease for ten minutes, executes nothing
    first.wait(timeout=30)
    pg_execute(url, "UPDATE leases SET expires_at = now() - interval '1 second'")  # 10 min on

    pw.configure(store=url)
    try:
        run = pw.SyncClient().get_run("cart-2")
        run.signal("add", "jam")
        run.send_event("approve", {"by": "bo"})
        run.signal("add", "bread")
    finally:
        pw.shutdown()
        runtime.config = Config()
    assert pg_rows(url, "SELECT kind FROM inbox ORDER BY id") == [("signal",), ("event",),
                                                                ("signal",)]

    worker = start_worker(tmp_path, env)
    try:
        until(lambda: _status(url, "cart-2") == "completed", "the worker to take the run")
    finally:
        worker.kill()
        worker.wait(timeout=30)
    assert pg_rows(url, "SELECT result ->> 'by', result ->> 'items' FROM runs "
                      "WHERE run_id = 'cart-2'") == [("bo", "jam+bread")]
    assert pg_rows(url, "SELECT count(*) FROM inbox") == [(0,)]
