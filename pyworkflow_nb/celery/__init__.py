"""Steps as Celery tasks on a Redis broker, with retries and timers kept by the engine.

In the Celery app module that ``celery -A MODULE worker`` loads::

    app = Celery("flows", broker="redis://127.0.0.1:6379/0")
    pyworkflow_nb.celery.install(app)     # the workers run step attempts
    import flows                          # the workflows and steps (e.g. from %wf export)

and where workflows run (a notebook, a script, a ``pyworkflow-nb worker``)::

    pyworkflow_nb.celery.use(app)         # every step attempt goes to the Celery workers

``install(app, store="postgresql://...")`` makes the Celery worker processes run workflows
from that shared store as well (see :mod:`.hosting`).
"""

from __future__ import annotations

from typing import Any

from ..runtime import runtime
from .executor import CeleryStepExecutor
from .tasks import install
from .wire import RemoteTraceback, redis_url

__all__ = ["CeleryStepExecutor", "RemoteTraceback", "install", "use"]


def use(app: Any) -> None:
    """Send every step attempt of this process's engine to ``app``'s Celery workers (from the
    next call on: an engine already running is restarted, resuming its runs)."""
    redis_url(str(app.conf.broker_url))  # a broker we cannot hear back through fails here
    runtime.configure(steps=lambda limit: CeleryStepExecutor(app, limit))
