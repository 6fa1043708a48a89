"""A process that runs (or recovers) a generator workflow whose activities leave marks."""

from __future__ import annotations

import asyncio
import sys

import pyworkflow_nb as pw
from pyworkflow_nb.compat import durable_workflow

STEPS = 30


def main(store: str, marker: str, mode: str) -> None:
    durable_workflow.install()
    from durable_workflow import Client, Worker, activity, workflow

    @activity.defn(name="mark")
    async def mark(i: int) -> int:
        with open(marker, "a") as f:
            f.write(f"{i}\n")
        await asyncio.sleep(0.005)
        return i

    @workflow.defn(name="marking")
    class Marking:
        def run(self, ctx, n):
            total = 0
            for i in range(n):
                total += yield ctx.schedule_activity("mark", [i])
            return total

    pw.configure(store=store)
    Worker(Client(), task_queue="default")
    if mode == "start":
        asyncio.run(Client().start_workflow("marking", workflow_id="crash", input=[STEPS]))
    print("result", pw.SyncClient().get_run("crash").result(timeout=60), flush=True)
    pw.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
