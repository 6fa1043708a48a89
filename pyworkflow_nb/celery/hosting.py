"""Workflow bodies in Celery worker processes.

Each pool process (prefork and solo pools: from ``worker_process_init``; the threads pool:
the worker's own process, once ready) hosts an engine on the shared PostgreSQL store as a
``pyworkflow-nb worker`` does: it takes the runs started with ``executor="workers"`` and the
runs of processes that died (through their leases), keeps their timers, and sends their steps
to the Celery workers as tasks. When the process stops, its engine gives its leases up, so
another process takes the runs at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import signals

from ..errors import InvalidInput
from ..runtime import runtime
from ..store.postgres_store import is_postgres_url
from .executor import CeleryStepExecutor

log = logging.getLogger("pyworkflow_nb.celery")


def host_workflows(app: Any, store: str) -> None:
    """Have every process of ``app``'s Celery workers run workflows from ``store``."""
    if not isinstance(store, str) or not is_postgres_url(store):
        raise InvalidInput(
            f"Celery workers run workflows from a store they all open: store must be a "
            f"postgresql:// URL, got {store!r} (a DuckDB file has one writing process)")
    hosting = threading.Event()

    def start(**_: Any) -> None:
        runtime.configure(store=store, worker=True,
                          steps=lambda limit: CeleryStepExecutor(app, limit))
        hosting.set()
        threading.Thread(target=_open, daemon=True, name="pyworkflow-celery-host").start()

    def start_in_threads_pool(sender: Any = None, **_: Any) -> None:
        pool = getattr(sender, "pool", None)
        if not hosting.is_set() and type(pool).__module__ == "celery.concurrency.thread":
            start()

    def stop(**_: Any) -> None:
        if hosting.is_set():
            hosting.clear()
            runtime.shutdown()

    signals.worker_process_init.connect(start, weak=False)
    signals.worker_ready.connect(start_in_threads_pool, weak=False)
    signals.worker_process_shutdown.connect(stop, weak=False)
    signals.worker_shutdown.connect(stop, weak=False)


def _open() -> None:
    """Start the engine (it resumes and takes runs) off the pool's start-up path."""
    try:
        runtime.ensure()
    except Exception:
        log.exception("pyworkflow_nb: this Celery worker process cannot run workflows")
