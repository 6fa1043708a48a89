"""The workflows this Celery deployment runs (in a project of yours: the module `%wf export`
wrote from your notebook). Both the Celery workers and the process that starts runs import it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pyworkflow_nb as pw


@pw.step
def measure(n: int) -> dict:
    """Runs in a Celery worker; says which one."""
    return {"n": n, "square": n * n, "pid": os.getpid()}


@pw.step(max_retries=3, retry_delay=0.5)
def flaky_upload(total: int, tries_file: str) -> str:
    """Fails its first two attempts. The run retries it after the delay its history records,
    each attempt a new Celery task: Celery's own retry stays off."""
    tries = Path(tries_file)
    with tries.open("a") as f:
        f.write(f"{os.getpid()}\n")
    attempt = len(tries.read_text().split())
    if attempt < 3:
        raise ConnectionError(f"upload refused (attempt {attempt})")
    return f"uploaded {total} on attempt {attempt}"


@pw.workflow
async def report(numbers: list[int], tries_file: str) -> dict:
    rows = await asyncio.gather(*(measure(n) for n in numbers))
    await pw.sleep(1)  # a durable timer: kept by the engine's store, not by Celery
    total = sum(row["square"] for row in rows)
    return {"total": total, "upload": await flaky_upload(total, tries_file),
            "step_pids": sorted({row["pid"] for row in rows})}
