"""pyworkflow-engine's documented API, run on this engine: durable locally, with no Celery,
Redis or Beat (its sleeps wake and its retries run in this process).

``install()`` makes ``import pyworkflow`` (and ``pyworkflow.storage``) resolve here. This
slice covers workflows and steps (decorators and class forms), ``sleep``, ``start``, reading
runs and events back, configuration and storage, and the error classes.
"""

from __future__ import annotations

import importlib.util
import logging
import sys

from ...errors import PyWorkflowError
from . import storage
from .config import PyWorkflowConfig, configure, get_config, reset_config
from .definitions import Step, Workflow, sleep, step, workflow
from .errors import (
    ContextError,
    FatalError,
    RetryableError,
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowNotFoundError,
)
from .runs import (
    Event,
    EventType,
    RunStatus,
    WorkflowRun,
    get_workflow_events,
    get_workflow_run,
    start,
)


def get_logger(name: str = "pyworkflow") -> logging.Logger:
    """A logger under ``pyworkflow`` (``get_logger("orders")`` is ``pyworkflow.orders``)."""
    return logging.getLogger(name if name.startswith("pyworkflow") else f"pyworkflow.{name}")


def install() -> None:
    """Make ``import pyworkflow`` resolve to this module, so pyworkflow-engine code runs
    unchanged; refused when the real package is importable."""
    mine = sys.modules[__name__]
    if sys.modules.get("pyworkflow") is mine:
        return
    if "pyworkflow" in sys.modules or importlib.util.find_spec("pyworkflow"):
        raise PyWorkflowError(
            "a package named `pyworkflow` (pyworkflow-engine) is importable, so install() "
            "will not shadow it; run this code in an environment without it, or import "
            "pyworkflow_nb.compat.pyworkflow directly")
    sys.modules["pyworkflow"] = mine
    sys.modules["pyworkflow.storage"] = storage


__all__ = ["ContextError", "Event", "EventType", "FatalError", "PyWorkflowConfig",
           "RetryableError", "RunStatus", "Step", "Workflow", "WorkflowAlreadyRunningError",
           "WorkflowError", "WorkflowNotFoundError", "WorkflowRun", "configure", "get_config",
           "get_logger", "get_workflow_events", "get_workflow_run", "install", "reset_config",
           "sleep", "start", "step", "storage", "workflow"]
