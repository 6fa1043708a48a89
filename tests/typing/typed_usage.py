"""Checked by mypy, never run: the public API type-checks as users write it.

Steps (async or plain ``def``) are awaited in workflows; ``pw.run`` takes a workflow.
"""

from __future__ import annotations

import pyworkflow_nb as pw


@pw.step
def plain(x: int) -> int:
    return x + 1


@pw.step(max_retries=1, timeout="5s")
async def fetch(url: str) -> dict[str, int]:
    return {"n": len(url)}


@pw.workflow
async def flow(n: int) -> int:
    a: int = await plain(n)
    b = await fetch("x")
    await pw.sleep("1s")
    return a + b["n"]


@pw.workflow(name="other", timeout="1h")
async def other() -> str:
    return str(await flow(1))


def main() -> None:
    total: int = pw.run(flow, 3)
    handle: pw.SyncRunHandle = pw.SyncClient().start(other)
    verdict: pw.ReplayVerdict = pw.Replayer([flow, other]).replay(handle)
    failures: float = pw.metrics().value("step_failures_total", step="plain")
    remove = pw.on_metric(lambda name, value, labels: print(name, value, dict(labels)))
    remove()
    print(total, verdict.ok, failures, pw.serve_metrics(port=0).url)
