"""The Durable Workflow Python SDK, run on this engine with no server.

``install()`` makes ``from durable_workflow import Client, Worker, workflow, activity`` (and
``durable_workflow.workflow`` / ``.activity``) resolve here. Generator workflows are driven by
this engine's deterministic core (see :mod:`.workflow`); ``Client`` and ``Worker`` keep the
SDK's shape but run in-process against the store.
"""

from __future__ import annotations

import sys

from ..installing import install_as
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
    install_as("durable_workflow", sys.modules[__name__],
               {"workflow": workflow, "activity": activity, "sync": sync},
               "the real durable_workflow SDK")
