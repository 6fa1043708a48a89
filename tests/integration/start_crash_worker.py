"""A process SIGKILLed the moment a start returned: ``STORE async|sync`` prints the run id.

The run's first step takes a second, so nothing else asks for a durable write before the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pyworkflow_nb as pw


@pw.step
def slow() -> None:
    time.sleep(1)


@pw.workflow
async def started_then_killed() -> None:
    await slow()


def killed_with(run_id: str) -> None:
    print(run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def start_async() -> None:
    handle = await pw.start(started_then_killed)
    killed_with(handle.run_id)


def main(store: str, api: str) -> None:
    pw.configure(store=store, durability="sync")
    if api == "async":
        asyncio.run(start_async())
    else:
        handle = pw.SyncClient().start(started_then_killed)
        handle.status()  # the handle's first use: the start is durable by then
        killed_with(handle.run_id)


if __name__ == "__main__":
    main(*sys.argv[1:3])
