"""A process that runs (or recovers) a Cloudflare DAG whose steps leave marks in a file."""

from __future__ import annotations

import asyncio
import sys

import pyworkflow_nb as pw
from pyworkflow_nb.compat import cloudflare

PARTS = 20


def main(store: str, marker: str, mode: str) -> None:
    cloudflare.install()
    from workers import WorkflowEntrypoint

    class CrashDag(WorkflowEntrypoint):
        async def run(self, event, step):
            parts = []
            for i in range(PARTS):
                @step.do(f"part {i}")
                async def part(i=i):
                    await asyncio.sleep(0.01 * i)
                    with open(marker, "a") as f:
                        f.write(f"{i}\n")
                    return i

                parts.append(part)

            @step.do("sum", depends=parts, concurrent=True)
            async def total(*values):
                return sum(values)

            return await total()

    pw.configure(store=store)
    env = cloudflare.Env(DAG=CrashDag)
    if mode == "start":
        asyncio.run(env.DAG.create(id="dag"))
    print("result", pw.SyncClient().get_run("dag").result(timeout=60), flush=True)
    pw.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
