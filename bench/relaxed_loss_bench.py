"""What a crash costs in ``durability="relaxed"``: how long before a kill -9 a step that ran
again after recovery had finished.

    python bench/relaxed_loss_bench.py [--kills 5] [--result-kb 256]

Each trial starts a worker process that runs 20 workflows at once in relaxed mode, each a
chain of ``def`` steps returning ``--result-kb`` of data (large results are what made commits
slow). Every step writes its end time to a marker file as it returns. The parent SIGKILLs the
worker at a random moment, recovers the runs in a new process, and finds the steps that ran
twice: for each, how long before the kill its first run had ended. The README promises that
only the last few milliseconds of steps run again; the table gives the largest window seen.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 20
STEPS = 200


def worker(store: str, marker: str, result_kb: int, mode: str) -> None:
    import pyworkflow_nb as pw

    payload = "x" * (result_kb * 1024)

    @pw.step
    def chunk(run: int, i: int) -> str:
        with open(marker, "a") as f:
            f.write(f"{run} {i} {time.time():.6f}\n")
        return payload

    @pw.workflow
    async def chain(run: int) -> int:
        for i in range(STEPS):
            await chunk(run, i)
        return run

    pw.configure(store=store, durability="relaxed")
    client = pw.SyncClient()
    if mode == "start":
        handles = [client.start(chain, run, run_id=f"run-{run}") for run in range(RUNS)]
    else:
        handles = [client.get_run(f"run-{run}") for run in range(RUNS)]
    for handle in handles:
        handle.result()
    pw.shutdown()


def trial(workdir: Path, result_kb: int) -> list[float]:
    """One kill; the windows (ms before the kill) of the steps that ran again."""
    store, marker = str(workdir / "s.duckdb"), workdir / "marks.txt"
    args = [sys.executable, __file__, "--worker", store, str(marker), str(result_kb)]
    first = subprocess.Popen([*args, "start"])
    while not marker.exists() or len(marker.read_text().splitlines()) < 100:
        time.sleep(0.01)
    time.sleep(random.uniform(0.2, 1.0))
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.time()
    first.wait()
    before = len(marker.read_text().splitlines())
    subprocess.run([*args, "recover"], check=True, timeout=600)
    lines = [line.split() for line in marker.read_text().splitlines()]
    ended = {}
    windows = []
    for n, (run, step, at) in enumerate(lines):
        key = (run, step)
        if n < before:
            ended[key] = float(at)
        elif key in ended:
            windows.append((killed_at - ended[key]) * 1000)
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--result-kb", type=int, default=256)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        store, marker, kb, mode = args.worker
        worker(store, marker, int(kb), mode)
        return
    print("kill | steps run again | largest window (ms before the kill) | median")
    print("-----+-----------------+-------------------------------------+-------")
    worst = 0.0
    for k in range(1, args.kills + 1):
        with tempfile.TemporaryDirectory(prefix="pw-relaxed-loss-") as tmp:
            windows = trial(Path(tmp), args.result_kb)
        largest = max(windows, default=0.0)
        worst = max(worst, largest)
        median = statistics.median(windows) if windows else 0.0
        print(f"{k:4} | {len(windows):15} | {largest:35.1f} | {median:6.1f}")
    print(f"\nlargest window over {args.kills} kills: {worst:.1f} ms "
          f"({RUNS} runs at once, {args.result_kb} KB per step result)")


if __name__ == "__main__":
    main()
