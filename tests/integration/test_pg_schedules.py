"""Schedules in a PostgreSQL store that three worker processes share: one process (the holder
of the ``scheduler`` role) fires them, once per fire time; changes made from any process reach
it; when it dies, another process takes the role over and the schedule goes on.
"""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest
from pg_processes import pg_rows, start_worker, until
from pg_server import fresh_database

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")

APP = '''
import pyworkflow_nb as pw

pw.configure(lease="1.5s")


@pw.schedule(every="1s", schedule_id="tick")
@pw.workflow
async def ticked():
    return 1
'''


def _fires(url: str) -> int:
    return int(pg_rows(url, "SELECT count(*) FROM runs WHERE schedule_id = 'tick'")[0][0])


def test_three_processes_fire_a_schedule_once_per_time_and_hand_it_over(
        tmp_path: Path, pg_server: str) -> None:
    url = fresh_database(pg_server)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {**os.environ, "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path)}
    workers = {}
    for _ in range(3):
        proc = start_worker(tmp_path, env)
        workers[proc.pid] = proc
    try:
        for proc in workers.values():
            assert proc.stdout is not None
            assert "worker: store" in proc.stdout.readline()
        until(lambda: _fires(url) >= 3, "three fires")
        leader = int(str(pg_rows(url, "SELECT owner FROM roles")[0][0]).split(":")[1])
        assert leader in workers

        pw.configure(store=url)  # a fourth process, defining nothing
        try:
            tick = pw.get_schedule("tick")
            tick.pause(note="maintenance")
            until(lambda: tick.status() == "paused", "the leader to apply the pause")
            paused_at = _fires(url)
            with pytest.raises(pw.InvalidInput, match=f"process [^ ]*:{leader}:"):
                tick.trigger()
            tick.resume()
            until(lambda: _fires(url) > paused_at, "fires again after the resume")
        finally:
            pw.shutdown()
            runtime.config = Config()

        workers[leader].send_signal(signal.SIGKILL)
        workers[leader].wait(timeout=30)
        before = _fires(url)
        until(lambda: _fires(url) >= before + 3, "another process to take the schedules over")
        successor = str(pg_rows(url, "SELECT owner FROM roles")[0][0])
        assert f":{leader}:" not in successor
        alive = [proc for pid, proc in workers.items() if pid != leader]
        assert all(proc.poll() is None for proc in alive), "no process broke on a duplicate"
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    twice = pg_rows(url, "SELECT scheduled_at, count(*) FROM runs WHERE schedule_id = 'tick' "
                       "GROUP BY scheduled_at HAVING count(*) > 1")
    assert twice == [], "each fire time started one run"
    events = pg_rows(url, "SELECT type, data ->> 'note' FROM events WHERE run_id = 'schedule:tick' "
                        "AND type IN ('schedule.created', 'schedule.paused', "
                        "'schedule.resumed') ORDER BY seq")
    assert events == [("schedule.created", None), ("schedule.paused", "maintenance"),
                      ("schedule.resumed", None)], "declared by three processes, created once"
