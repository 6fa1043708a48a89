"""A process that runs (or recovers) a workflow whose steps leave marks in a file."""

from __future__ import annotations

import asyncio
import sys

import pyworkflow_nb as pw

STEPS = 40


def main(store: str, marker: str, mode: str) -> None:
    @pw.step
    async def mark(i: int) -> int:
        with open(marker, "a") as f:
            f.write(f"{i}\n")
        await asyncio.sleep(0.005)
        return i

    @pw.workflow
    async def crashy(n: int) -> int:
        total = 0
        for i in range(n):
            total += await mark(i)
        return total

    pw.configure(store=store)
    client = pw.SyncClient()
    if mode == "start":
        handle = client.start(crashy, STEPS, run_id="crash")
    else:
        handle = client.get_run("crash")
    print("result", handle.result(timeout=60), flush=True)
    pw.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
