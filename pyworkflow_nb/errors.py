"""Every exception a user of pyworkflow_nb can catch.

The tree, cut by what the user can do about it::

    PyWorkflowError
    ├── WorkflowFailed            a run ended with an error (the user's exception is __cause__)
    ├── WorkflowCancelled         a run was cancelled
    ├── WorkflowTerminated        a run was terminated
    ├── WorkflowContinued         result(follow=False) of a run that continued as a new one
    ├── UpdateRejected            an update's validator refused it (the run did not see it)
    ├── UpdateFailed              an update's handler raised (its error is __cause__)
    ├── RunNotFound               no run with that id in the store
    ├── DefinitionError           a bad @workflow / @step definition (raised at decoration time)
    ├── InvalidInput (ValueError) a bad argument: duration, timeout, cron, name, ...
    ├── WorkflowContextError      a workflow primitive used where it cannot work
    ├── SerializationError        a value neither JSON nor cloudpickle can store
    ├── NonDeterminismError       the code no longer matches the run's recorded history
    ├── StoreError                the store cannot be opened or written
    │   └── StoreLockedError      another process holds the store file
    └── EventTimeout (TimeoutError) wait_for_event timed out

Errors raised *inside* steps to steer retries::

    FatalError  (= NonRetryableError)   stop retrying, fail the step now
    RetryableError(msg, retry_after=)   retry, optionally after a given delay
"""

from __future__ import annotations

from typing import Any


class PyWorkflowWarning(UserWarning):
    """Warnings issued by pyworkflow_nb."""


class PyWorkflowError(Exception):
    """Base class of every pyworkflow_nb error."""


class WorkflowFailed(PyWorkflowError):
    """A run ended with an error; the workflow's own exception is ``__cause__``."""

    def __init__(self, message: str, *, run_id: str, step: str | None = None,
                 error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step = step
        self.error = error or {}


class WorkflowCancelled(PyWorkflowError):
    """A run was cancelled before it finished."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class WorkflowTerminated(PyWorkflowError):
    """A run was ended at once by ``terminate``; ``reason`` says why, when given."""

    def __init__(self, message: str, *, run_id: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason


class WorkflowContinued(PyWorkflowError):
    """The run ended by continuing as ``next_run_id`` (``result(follow=False)`` says so)."""

    def __init__(self, message: str, *, run_id: str, next_run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.next_run_id = next_run_id


class UpdateRejected(PyWorkflowError):
    """An update's validator refused it: recorded, and the run never saw it."""

    def __init__(self, message: str, *, run_id: str, update_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.update_id = update_id


class UpdateFailed(PyWorkflowError):
    """An update's handler raised; the run goes on. The handler's error is ``__cause__``."""

    def __init__(self, message: str, *, run_id: str, update_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.update_id = update_id


class RunNotFound(PyWorkflowError, KeyError):
    """No run with the given id exists in the store."""

    def __init__(self, run_id: str, store: str = "") -> None:
        where = f" in store {store}" if store else ""
        super().__init__(
            f"no run with id {run_id!r}{where}; list runs with pw.list_runs() or %wf runs"
        )
        self.run_id = run_id

    def __str__(self) -> str:
        return str(self.args[0])


class DefinitionError(PyWorkflowError, TypeError):
    """A workflow or step definition is invalid."""


class InvalidInput(PyWorkflowError, ValueError):
    """An argument is malformed: a duration, a timeout, a name, a cron expression, ..."""


class WorkflowContextError(PyWorkflowError, RuntimeError):
    """A workflow primitive was used where it cannot work (e.g. ``pw.sleep`` inside a step)."""


class SerializationError(PyWorkflowError, TypeError):
    """A value can be stored neither as JSON nor with cloudpickle."""


class NonDeterminismError(PyWorkflowError):
    """The workflow's code no longer matches the history recorded for the run."""

    def __init__(self, message: str, *, run_id: str = "", expected: str | None = None,
                 actual: str | None = None, position: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.expected = expected
        self.actual = actual
        self.position = position


class StoreError(PyWorkflowError):
    """The event store cannot be opened, read or written."""


class StoreLockedError(StoreError):
    """Another process holds the store file open for writing."""

    def __init__(self, message: str, *, path: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid


class EventTimeout(PyWorkflowError, TimeoutError):
    """``pw.wait_for_event`` reached its timeout before the event arrived."""

    def __init__(self, message: str, *, event: str = "") -> None:
        super().__init__(message)
        self.event = event


class FatalError(PyWorkflowError):
    """Raise inside a step to fail it at once, without further retries."""


NonRetryableError = FatalError


class RetryableError(PyWorkflowError):
    """Raise inside a step to ask for a retry, optionally after ``retry_after``."""

    def __init__(self, message: str = "", *, retry_after: Any = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
