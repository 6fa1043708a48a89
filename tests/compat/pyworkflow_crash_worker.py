"""A process that runs (or recovers) pyworkflow-engine code: a child workflow whose steps leave
marks, a sleep, a second child, then a hook waiting for its token."""

from __future__ import annotations

import asyncio
import sys
import time

import pyworkflow_nb as pw
from pyworkflow_nb.compat import pyworkflow


def main(store: str, marker: str, mode: str) -> None:
    pyworkflow.install()
    from pyworkflow import (
        HookNotFoundError,
        get_workflow_run_by_idempotency_key,
        hook,
        resume_hook,
        sleep,
        start,
        start_child_workflow,
        step,
        workflow,
    )

    @step()
    async def mark(i: int) -> int:
        with open(marker, "a") as f:
            f.write(f"{i}\n")
        await asyncio.sleep(0.005)
        return i

    @workflow()
    async def part(lo: int, hi: int) -> int:
        total = 0
        for i in range(lo, hi):
            total += await mark(i)
        return total

    @workflow()
    async def crashing() -> int:
        first = await start_child_workflow(part, 0, 10)
        await sleep(1)  # the kill comes about here: after the first child, in this sleep
        second = await start_child_workflow(part, 10, 20)
        approval = await hook("go")
        return first + second + approval["bonus"]

    async def recover() -> None:
        run = await get_workflow_run_by_idempotency_key("crash")
        assert run is not None
        while True:  # the recovered run goes on, on the engine's thread, to its hook
            try:
                await resume_hook(f"{run.run_id}:hook_go_1", {"bonus": 100})
                break
            except HookNotFoundError:
                time.sleep(0.01)
        print("result", pw.SyncClient().get_run(run.run_id).result(timeout=60), flush=True)

    pw.configure(store=store)
    pw.SyncClient().list_runs()  # the engine on its own thread, recovering unfinished runs
    if mode == "start":
        asyncio.run(start(crashing, idempotency_key="crash"))
        time.sleep(60)  # killed before this ends
    asyncio.run(recover())
    pw.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
