"""A Celery app for the tests: the example's set-up, with steps that time out, fail and say
where they ran."""

from __future__ import annotations

import os
import time

from celery import Celery

import pyworkflow_nb as pw
import pyworkflow_nb.celery

app = Celery("tests", broker=os.environ["CELERY_BROKER_URL"])
pyworkflow_nb.celery.install(app)


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
