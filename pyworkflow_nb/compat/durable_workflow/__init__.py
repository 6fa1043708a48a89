"""The Durable Workflow Python SDK, run on this engine with no server.

``install()`` makes ``from durable_workflow import Client, Worker, workflow, activity`` (and
``durable_workflow.workflow`` / ``.activity``) resolve here. Generator workflows are driven by
this engine's deterministic core (see :mod:`.workflow`); ``Client`` and ``Worker`` keep the
SDK's shape but run in-process against the store.
"""

from __future__ import annotations

import importlib.util
import sys

from ...errors import PyWorkflowError
from . import activity, sync, workflow
from .client import Client, Worker
from .handles import (
    QueryFailed,
    WorkflowAlreadyStarted,
    WorkflowCancelled,
    WorkflowExecution,
    WorkflowFailed,
    WorkflowHandle,
    WorkflowNotFound,
    WorkflowTerminated,
)
from .metrics import InMemoryMetrics, PrometheusMetrics
from .schedules import (
    ScheduleAction,
    ScheduleAlreadyExists,
    ScheduleHandle,
    ScheduleNotFound,
    ScheduleSpec,
)
from .workflow import (
    ActivityRetryPolicy,
    ChildWorkflowFailed,
    ChildWorkflowRetryPolicy,
    CompleteWorkflow,
    ContinueAsNew,
    FailWorkflow,
    NonRetryableError,
    WorkflowContext,
)

__all__ = ["ActivityRetryPolicy", "ChildWorkflowFailed", "ChildWorkflowRetryPolicy", "Client",
           "CompleteWorkflow", "ContinueAsNew", "FailWorkflow", "InMemoryMetrics",
           "NonRetryableError", "PrometheusMetrics",
           "QueryFailed", "ScheduleAction", "ScheduleAlreadyExists", "ScheduleHandle",
           "ScheduleNotFound", "ScheduleSpec", "Worker", "WorkflowAlreadyStarted",
           "WorkflowCancelled", "WorkflowContext", "WorkflowExecution", "WorkflowFailed",
           "WorkflowHandle", "WorkflowNotFound", "WorkflowTerminated", "activity", "install",
           "sync", "workflow"]


def install() -> None:
    """Make ``import durable_workflow`` resolve to this module, so SDK code runs unchanged;
    refused when the real SDK is importable."""
    mine = sys.modules[__name__]
    if sys.modules.get("durable_workflow") is mine:
        return
    if "durable_workflow" in sys.modules or importlib.util.find_spec("durable_workflow"):
        raise PyWorkflowError(
            "the real durable_workflow SDK is importable, so install() will not shadow it; "
            "run this code in an environment without it, or import "
            "pyworkflow_nb.compat.durable_workflow directly")
    sys.modules["durable_workflow"] = mine
    sys.modules["durable_workflow.workflow"] = workflow
    sys.modules["durable_workflow.activity"] = activity
    sys.modules["durable_workflow.sync"] = sync
