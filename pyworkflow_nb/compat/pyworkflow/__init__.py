"""pyworkflow-engine's documented API, run on this engine: durable locally, with no Celery,
Redis or Beat (its sleeps wake and its retries run in this process).

``install()`` makes ``import pyworkflow`` (and ``pyworkflow.storage``) resolve here. This
front-end covers workflows and steps (decorators and class forms), ``sleep``, hooks, child
workflows, continue-as-new, cancellation, ``start`` and reading runs, chains and events back,
configuration and storage, and the error classes.
"""

from __future__ import annotations

import importlib.util
import logging
import sys

from ...errors import PyWorkflowError
from . import storage
from .children import (
    ChildWorkflowError,
    ChildWorkflowFailedError,
    ChildWorkflowHandle,
    start_child_workflow,
)
from .config import PyWorkflowConfig, configure, get_config, reset_config
from .definitions import Step, Workflow, sleep, step, workflow
from .errors import (
    CancellationError,
    ContextError,
    FatalError,
    RetryableError,
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowNotFoundError,
)
from .hooks import (
    HookAlreadyReceivedError,
    HookExpiredError,
    HookNotFoundError,
    InvalidTokenError,
    ResumeResult,
    TypedHook,
    define_hook,
    hook,
    resume_hook,
)
from .runs import (
    Event,
    EventType,
    RunStatus,
    WorkflowRun,
    cancel_workflow,
    continue_as_new,
    get_workflow_chain,
    get_workflow_events,
    get_workflow_run,
    get_workflow_run_by_idempotency_key,
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


__all__ = ["CancellationError", "ChildWorkflowError", "ChildWorkflowFailedError",
           "ChildWorkflowHandle", "ContextError", "Event", "EventType", "FatalError",
           "HookAlreadyReceivedError", "HookExpiredError", "HookNotFoundError",
           "InvalidTokenError", "PyWorkflowConfig", "ResumeResult", "RetryableError",
           "RunStatus", "Step", "TypedHook", "Workflow", "WorkflowAlreadyRunningError",
           "WorkflowError", "WorkflowNotFoundError", "WorkflowRun", "cancel_workflow",
           "configure", "continue_as_new", "define_hook", "get_config", "get_logger",
           "get_workflow_chain", "get_workflow_events", "get_workflow_run",
           "get_workflow_run_by_idempotency_key", "hook", "install", "reset_config",
           "resume_hook", "sleep", "start", "start_child_workflow", "step", "storage",
           "workflow"]
