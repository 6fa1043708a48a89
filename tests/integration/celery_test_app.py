"""A Celery app for the tests: the example's set-up, with steps that time out, fail and say
where they ran, and a workflow; with a PostgreSQL ``PYWORKFLOW_NB_STORE``, its workers run
workflows too."""

from __future__ import annotations

import asyncio
import os
import time

from celery import Celery

import pyworkflow_nb as pw
import pyworkflow_nb.celery

app = Celery("tests", broker=os.environ["CELERY_BROKER_URL"])
store = os.environ.get("PYWORKFLOW_NB_STORE", "")
pyworkflow_nb.celery.install(app, store=store if store.startswith("postgresql") else None)


@pw.step(max_retries=0)
def where() -> int:
    return os.getpid()


@pw.step(timeout=1, max_retries=1, retry_delay=0.1)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pw.step(max_retries=3)
def refuse(why: str) -> None:
    raise pw.FatalError(why)


@pw.workflow
async def tally(n: int, wait: bool = False) -> dict[str, object]:
    host = await pw.side_effect(os.getpid)  # the process running this body
    steps = await asyncio.gather(*(where() for _ in range(n)))
    if wait:
        await pw.wait_for_event("go")
    return {"host": host, "steps": sorted(set(steps))}
