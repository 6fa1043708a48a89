"""pyworkflow_nb: durable workflows you write, run and inspect from a Jupyter notebook."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .client import (
    RunHandle,
    configure,
    get_run,
    list_runs,
    purge,
    recover,
    run_chain,
    shutdown,
    sql,
    start,
)
from .context import RunInfo
from .copying import CopyReport, copy_store
from .definitions import step, workflow
from .displays import views
from .durations import DurationLike
from .engine.offline import ReplayVerdict
from .errors import (
    DefinitionError,
    EventTimeout,
    FatalError,
    InvalidInput,
    NonDeterminismError,
    NonRetryableError,
    PyWorkflowError,
    PyWorkflowWarning,
    RetryableError,
    RunNotFound,
    SerializationError,
    StoreError,
    StoreLockedError,
    UpdateFailed,
    UpdateRejected,
    WorkflowCancelled,
    WorkflowContextError,
    WorkflowContinued,
    WorkflowFailed,
    WorkflowTerminated,
)
from .exporting import ExportReport, export
from .messages import set_query_handler, set_signal_handler, set_update_handler, wait_condition
from .primitives import (
    ChildHandle,
    continue_as_new,
    get_logger,
    info,
    now,
    random,
    side_effect,
    sleep,
    sleep_until,
    start_child,
    uuid4,
    wait_for_event,
)
from .prometheus import serve_metrics
from .replayer import Replayer
from .schedules import ScheduleHandle, get_schedule, list_schedules, schedule
from .sync import SyncClient, SyncRunHandle, run
from .telemetry import Metrics, metrics, on_metric
from .timeskip import skip, skip_until_idle, use_real_clock, use_virtual_clock
from .versioning import DEFAULT_VERSION, deprecate_patch, get_version, patched

if TYPE_CHECKING:
    from .definitions import Workflow
    from .notebook.runs_table_widget import RunsTable

__version__ = "0.1.0"

# the root wires the layers: handles show themselves through the notebook layer, imported
# the first time one is shown (the client below it never imports it)
views.load = lambda: importlib.import_module(f"{__name__}.notebook")


def load_ipython_extension(shell: object) -> None:
    """``%load_ext pyworkflow_nb``: open the store, resume runs, register the magics."""
    from .notebook import load

    load(shell)


def unload_ipython_extension(shell: object) -> None:
    """``%unload_ext pyworkflow_nb``: stop runs where they are and close the store."""
    from .notebook import unload

    unload(shell)


__all__ = [
    "DEFAULT_VERSION",
    "ChildHandle",
    "CopyReport",
    "DefinitionError",
    "DurationLike",
    "EventTimeout",
    "ExportReport",
    "FatalError",
    "InvalidInput",
    "Metrics",
    "NonDeterminismError",
    "NonRetryableError",
    "PyWorkflowError",
    "PyWorkflowWarning",
    "ReplayVerdict",
    "Replayer",
    "RetryableError",
    "RunHandle",
    "RunInfo",
    "RunNotFound",
    "ScheduleHandle",
    "SerializationError",
    "StoreError",
    "StoreLockedError",
    "SyncClient",
    "SyncRunHandle",
    "UpdateFailed",
    "UpdateRejected",
    "WorkflowCancelled",
    "WorkflowContextError",
    "WorkflowContinued",
    "WorkflowFailed",
    "WorkflowTerminated",
    "configure",
    "continue_as_new",
    "copy_store",
    "deprecate_patch",
    "export",
    "get_logger",
    "get_run",
    "get_schedule",
    "get_version",
    "info",
    "list_runs",
    "list_schedules",
    "metrics",
    "now",
    "on_metric",
    "patched",
    "purge",
    "random",
    "recover",
    "run",
    "run_chain",
    "runs_table",
    "schedule",
    "serve_metrics",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
    "shutdown",
    "side_effect",
    "skip",
    "skip_until_idle",
    "sleep",
    "sleep_until",
    "sql",
    "start",
    "start_child",
    "step",
    "use_real_clock",
    "use_virtual_clock",
    "uuid4",
    "wait_condition",
    "wait_for_event",
    "workflow",
]


def runs_table(workflow: Workflow | str | None = None, status: str | None = None,
               limit: int = 50) -> RunsTable:
    """A live table of runs, newest first, with cancel / retry / send event / timeline.

    A widget for Jupyter front-ends (imported on first use, so scripts never load it).
    """
    from .notebook.runs_table_widget import RunsTable

    return RunsTable(workflow=workflow, status=status, limit=limit)
