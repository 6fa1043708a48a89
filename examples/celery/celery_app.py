"""The Celery app: ``celery -A celery_app worker`` (in this folder) runs the steps of flows.py,
and its workflows too when PYWORKFLOW_NB_STORE is a PostgreSQL URL.

The broker is a Redis server (CELERY_BROKER_URL, default redis://127.0.0.1:6379/0); steps
answer the engine that sent them through it too, so no result backend is needed.
"""

from __future__ import annotations

import os

import flows  # noqa: F401  (defines the steps the workers run)
from celery import Celery

import pyworkflow_nb.celery

app = Celery("flows", broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
# With a PostgreSQL store, each worker process also runs workflows: the runs started with
# pw.start(..., executor="workers") and those of processes that died.
store = os.environ.get("PYWORKFLOW_NB_STORE", "")
pyworkflow_nb.celery.install(app, store=store if store.startswith("postgresql") else None)
