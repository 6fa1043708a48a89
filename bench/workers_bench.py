"""Throughput of worker processes sharing one PostgreSQL server: pyworkflow_nb against DBOS.

    python bench/workers_bench.py [--runs 500] [--workers 1,2,4]

A throwaway PostgreSQL server is started as the tests start one (Debian's ``postgresql``
binaries, ``fsync`` off: both systems alike). For each system and worker count, a fresh
database gets that many idle worker processes; then one client process hands ``--runs`` runs
of a five-step workflow to them (pyworkflow_nb: ``pw.start(..., executor="workers")`` and the
``pyworkflow-nb worker`` command; DBOS: ``DBOSClient.enqueue`` to a ``Queue`` its launched
processes dequeue) and waits for every result. The figure is runs per second from the first
start to the last result, so it counts handing over, executing and reading back. Both sides
keep their defaults (DBOS polls its queue about once a second; pyworkflow_nb workers are
notified and take at most 20 runs at a time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' server
from pg_server import fresh_database, postgres

STEPS = 5

PW_APP = f'''
import pyworkflow_nb as pw


@pw.step
async def inc(i):
    return i + 1


@pw.workflow
async def seq5(x):
    for _ in range({STEPS}):
        x = await inc(x)
    return x
'''

PW_CLIENT = '''
import sys
import time
import pyworkflow_nb as pw
import bench_app
runs = int(sys.argv[1])
pw.configure(executor="workers")
client = pw.SyncClient()
began = time.perf_counter()
handles = [client.start(bench_app.seq5, i) for i in range(runs)]
assert [h.result(timeout="10m") for h in handles] == [i + 5 for i in range(runs)]
print(runs / (time.perf_counter() - began))
pw.shutdown()
'''

DBOS_APP = f'''
import os
import threading

from dbos import DBOS

DBOS(config={{"name": "pwnb-workers", "system_database_url": os.environ["BENCH_URL"],
              "log_level": "WARNING"}})


@DBOS.step()
async def inc(i):
    return i + 1


@DBOS.workflow()
async def seq5(x):
    for _ in range({STEPS}):
        x = await inc(x)
    return x


DBOS.launch()
DBOS.register_queue("bench")
print("worker ready", flush=True)
threading.Event().wait()
'''

DBOS_CLIENT = '''
import os
import sys
import time
from dbos import DBOSClient
runs = int(sys.argv[1])
client = DBOSClient(system_database_url=os.environ["BENCH_URL"],
                    application_name="pwnb-workers")
began = time.perf_counter()
handles = [client.enqueue({"queue_name": "bench", "workflow_name": "seq5"}, i)
           for i in range(runs)]
assert [h.get_result() for h in handles] == [i + 5 for i in range(runs)]
print(runs / (time.perf_counter() - began))
client.destroy()
'''


def measure(system: str, server: str, workers: int, runs: int, workdir: Path) -> float:
    """Runs per second with ``workers`` worker processes of ``system`` on a fresh database."""
    url = fresh_database(server)
    app, client = (PW_APP, PW_CLIENT) if system == "pw" else (DBOS_APP, DBOS_CLIENT)
    (workdir / "bench_app.py").write_text(textwrap.dedent(app))
    env = {**os.environ, "PYWORKFLOW_NB_STORE": url, "BENCH_URL": url,
           "PYTHONPATH": str(workdir)}
    command = ([sys.executable, "-m", "pyworkflow_nb", "worker", "--app", "bench_app"]
               if system == "pw" else [sys.executable, "bench_app.py"])
    procs = [subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(workers)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "worker" in line, line + proc.stdout.read()
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(client), str(runs)],
                              cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(f"{system} client failed:\n{done.stderr}")
        return float(done.stdout.split()[-1])
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows = []
    with postgres() as server, tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            pw_rate = measure("pw", server, count, args.runs, Path(tmp))
            dbos_rate = measure("dbos", server, count, args.runs, Path(tmp))
            rows.append((count, pw_rate, dbos_rate))
    print(f"{args.runs} runs of {STEPS} steps, handed to worker processes on one PostgreSQL "
          f"server ({os.cpu_count()} CPUs; read the ratios, not the absolutes)")
    print(f"{'workers':>7} | {'pw (runs/s)':>11} | {'DBOS (runs/s)':>13} | {'pw/DBOS':>7}")
    print(f"{'-' * 7}-+-{'-' * 11}-+-{'-' * 13}-+-{'-' * 7}")
    for count, pw_rate, dbos_rate in rows:
        print(f"{count:>7} | {pw_rate:>11,.0f} | {dbos_rate:>13,.1f} | "
              f"{pw_rate / dbos_rate:>6.1f}x")


if __name__ == "__main__":
    main()
