"""A process running many workflows at once, whose steps leave ``run step`` marks in a file.

``STORE MARKER start|recover``: starts (or recovers) RUNS runs of STEPS sequential steps and
prints ``results ...`` once all have ended.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import pyworkflow_nb as pw

RUNS = 20
STEPS = 30


def main(store: str, marker: str, mode: str) -> None:
    started = threading.Event()  # no step marks before every start returned

    @pw.step
    async def mark(run: int, i: int) -> int:
        while not started.is_set():
            await asyncio.sleep(0.001)
        with open(marker, "a") as f:
            f.write(f"{run} {i}\n")
        await asyncio.sleep(0.002)
        return i

    @pw.workflow
    async def busy(run: int) -> int:
        total = 0
        for i in range(STEPS):
            total += await mark(run, i)
        return total

    pw.configure(store=store, durability="sync")
    client = pw.SyncClient()
    if mode == "start":
        handles = [client.start(busy, run, run_id=f"busy-{run}") for run in range(RUNS)]
    else:
        handles = [client.get_run(f"busy-{run}") for run in range(RUNS)]
    started.set()
    print("results", *(h.result(timeout=120) for h in handles), flush=True)
    pw.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
