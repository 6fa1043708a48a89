"""pyworkflow-engine's documented API, run on this engine: durable locally, with no Celery,
Redis or Beat (its sleeps wake and its retries run in this process).

``install()`` makes ``import pyworkflow`` (and ``pyworkflow.storage``) resolve here. This
front-end covers workflows and steps (decorators and class forms), ``sleep``, hooks, child
workflows, continue-as-new, cancellation, schedules, ``start`` and reading runs, chains and
events back, configuration and storage, and the error classes.
"""

from __future__ import annotations

import logging
import sys

from ..installing import install_as
from . import storage
from .children import (
    ChildWorkflowError,
    ChildWorkflowFailedError,
    ChildWorkflowHandle,
    start_child_workflow,
)
from .config import PyWorkflowConfig, configure, get_config, reset_config
from .definitions import Step, Workflow, shield, sleep, step, workflow
from .errors import (
    CancellationError,
    ContextError,
    EventLimitExceededError,
    FatalError,
    MaxNestingDepthError,
    RetryableError,
    StepNotFoundError,
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
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
    resume,
    start,
)
from .schedules import (
    CalendarSpec,
    OverlapPolicy,
    Schedule,
    ScheduleNotFoundError,
    ScheduleSpec,
    ScheduleStatus,
    activate_scheduled_workflows,
    backfill_schedule,
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    scheduled_workflow,
    trigger_schedule,
    update_schedule,
)


def get_logger(name: str = "pyworkflow") -> logging.Logger:
    """A logger under ``pyworkflow`` (``get_logger("orders")`` is ``pyworkflow.orders``)."""
    return logging.getLogger(name if name.startswith("pyworkflow") else f"pyworkflow.{name}")


def install() -> None:
    """Make ``import pyworkflow`` resolve to this module, so pyworkflow-engine code runs
    unchanged; refused when the real package is importable."""
    install_as("pyworkflow", sys.modules[__name__], {"storage": storage},
               "a package named `pyworkflow` (pyworkflow-engine)")


__all__ = [
    "CalendarSpec",
    "CancellationError",
    "ChildWorkflowError",
    "ChildWorkflowFailedError",
    "ChildWorkflowHandle",
    "ContextError",
    "Event",
    "EventLimitExceededError",
    "EventType",
    "FatalError",
    "HookAlreadyReceivedError",
    "HookExpiredError",
    "HookNotFoundError",
    "InvalidTokenError",
    "MaxNestingDepthError",
    "OverlapPolicy",
    "PyWorkflowConfig",
    "ResumeResult",
    "RetryableError",
    "RunStatus",
    "Schedule",
    "ScheduleNotFoundError",
    "ScheduleSpec",
    "ScheduleStatus",
    "Step",
    "StepNotFoundError",
    "TypedHook",
    "Workflow",
    "WorkflowAlreadyRunningError",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowRun",
    "WorkflowTimeoutError",
    "activate_scheduled_workflows",
    "backfill_schedule",
    "cancel_workflow",
    "configure",
    "continue_as_new",
    "create_schedule",
    "define_hook",
    "delete_schedule",
    "get_config",
    "get_logger",
    "get_schedule",
    "get_workflow_chain",
    "get_workflow_events",
    "get_workflow_run",
    "get_workflow_run_by_idempotency_key",
    "hook",
    "install",
    "list_schedules",
    "pause_schedule",
    "reset_config",
    "resume",
    "resume_hook",
    "resume_schedule",
    "scheduled_workflow",
    "shield",
    "sleep",
    "start",
    "start_child_workflow",
    "step",
    "storage",
    "trigger_schedule",
    "update_schedule",
    "workflow",
]
