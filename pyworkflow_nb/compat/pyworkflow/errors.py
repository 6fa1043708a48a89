"""pyworkflow-engine's exception classes, with its attributes; the ones a step raises are also
this engine's, so its retry policy treats them as documented (``FatalError`` stops retries,
``RetryableError(retry_after=...)`` sets the next delay)."""

from __future__ import annotations

from typing import Any

from ... import errors as native


class WorkflowError(Exception):
    """Base of every pyworkflow error."""


class FatalError(WorkflowError, native.FatalError):
    """A permanent failure: the step is not retried and the workflow fails."""

    def __init__(self, message: str, **metadata: Any) -> None:
        native.FatalError.__init__(self, message)
        self.message = message
        self.metadata = metadata


class RetryableError(WorkflowError, native.RetryableError):
    """A transient failure: the step is retried, after ``retry_after`` when given (a duration
    string, seconds, a ``timedelta`` or a ``datetime``)."""

    def __init__(self, message: str, retry_after: Any = None, **metadata: Any) -> None:
        native.RetryableError.__init__(self, message, retry_after=retry_after)
        self.message = message
        self.metadata = metadata

    def get_retry_delay_seconds(self) -> int | None:
        """The delay before the retry in whole seconds; ``None`` for the step's own."""
        from datetime import datetime

        from ...durations import parse_duration

        if self.retry_after is None:
            return None
        if isinstance(self.retry_after, datetime):
            now = datetime.now(self.retry_after.tzinfo)
            return max(0, int((self.retry_after - now).total_seconds()))
        return int(parse_duration(self.retry_after, what="retry_after"))


class CancellationError(WorkflowError):
    """The workflow was cancelled (``cancel_workflow``): raised at the step, sleep, hook or
    child the workflow was awaiting; catch it to clean up, then re-raise."""

    def __init__(self, message: str = "Workflow was cancelled", reason: str | None = None
                 ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class WorkflowNotFoundError(WorkflowError):
    """No workflow run (or no registered workflow) has this id or name."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Workflow run not found: {run_id}")
        self.run_id = run_id


class WorkflowAlreadyRunningError(WorkflowError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"Workflow already running: {run_id}")
        self.run_id = run_id


class ContextError(WorkflowError):
    """A workflow-only call made outside a running workflow."""


__all__ = ["CancellationError", "ContextError", "FatalError", "RetryableError",
           "WorkflowAlreadyRunningError", "WorkflowError", "WorkflowNotFoundError"]
