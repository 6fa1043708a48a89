"""pyworkflow_nb: durable workflows you write, run and inspect from a Jupyter notebook."""

from .client import (
    RunHandle,
    configure,
    get_run,
    list_runs,
    recover,
    shutdown,
    sql,
    start,
)
from .context import RunInfo
from .definitions import step, workflow
from .durations import DurationLike
from .errors import (
    DefinitionError,
    EventTimeout,
    FatalError,
    InvalidInput,
    NonDeterminismError,
    NonRetryableError,
    PyWorkflowError,
    RetryableError,
    RunNotFound,
    SerializationError,
    StoreError,
    StoreLockedError,
    WorkflowCancelled,
    WorkflowContextError,
    WorkflowFailed,
)
from .primitives import (
    get_logger,
    info,
    now,
    random,
    side_effect,
    sleep,
    sleep_until,
    uuid4,
    wait_for_event,
)
from .sync import SyncClient, SyncRunHandle, run

__version__ = "0.1.0"

__all__ = [
    "DefinitionError",
    "DurationLike",
    "EventTimeout",
    "FatalError",
    "InvalidInput",
    "NonDeterminismError",
    "NonRetryableError",
    "PyWorkflowError",
    "RetryableError",
    "RunHandle",
    "RunInfo",
    "RunNotFound",
    "SerializationError",
    "StoreError",
    "StoreLockedError",
    "SyncClient",
    "SyncRunHandle",
    "WorkflowCancelled",
    "WorkflowContextError",
    "WorkflowFailed",
    "configure",
    "get_logger",
    "get_run",
    "info",
    "list_runs",
    "now",
    "random",
    "recover",
    "run",
    "shutdown",
    "side_effect",
    "sleep",
    "sleep_until",
    "sql",
    "start",
    "step",
    "uuid4",
    "wait_for_event",
    "workflow",
]
