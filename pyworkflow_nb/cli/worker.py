"""``pyworkflow-nb worker --app MODULE``: run a module's workflows from the store until stopped.

The worker imports the app (a module such as one ``%wf export`` wrote, or a ``.py`` file),
opens the store for writing, resumes its unfinished runs and keeps going: sleeps wake, retries
and schedules fire, and each run that ends prints a line. SIGTERM or Ctrl-C stops it: the
steps in flight are released (not recorded, so they run again at the next start) and the
store is closed as one file.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from ..definitions import registry
from ..errors import InvalidInput
from ..history import vocabulary as ev
from ..runtime import runtime
from ..store import EventRow
from ..sync import SyncClient

__all__ = ["serve"]

_FINAL = {kind: status for status, kind in ev.FINAL_EVENTS.items()}


def serve(apps: list[str], define: Any) -> str:
    """Import ``apps`` with ``define``, then run until SIGTERM or SIGINT; returns the last
    line to print."""
    for app in apps:
        define(app)
    if not registry.workflows:
        raise InvalidInput(f"{', '.join(apps)} defined no @pw.workflow for the worker to run")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ended = []

    def report(event: EventRow) -> None:
        status = _FINAL.get(event[3])
        if status is not None and "/" not in event[0]:  # child runs end with their parent
            ended.append(event[0])
            _say(f"run {event[0]} {status}")

    runtime.on_start.append(lambda engine: engine.listeners.append(report))
    resumed = SyncClient().recover()
    engine = runtime.ensure()
    _say(f"worker: store {engine.store.path}, workflows "
         f"{', '.join(sorted(registry.workflows))}; resumed {len(resumed)} runs; "
         "stop with SIGTERM or Ctrl-C")
    stop.wait()
    unfinished = engine.on_loop(lambda: sum(
        row.status not in ev.TERMINAL_STATUSES
        for row in [*(run.row for run in engine.runs.values()), *engine.dormancy.rows()]))
    return (f"worker: stopped after {len(ended)} runs ended; {unfinished} unfinished resume "
            "at the next start")


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
