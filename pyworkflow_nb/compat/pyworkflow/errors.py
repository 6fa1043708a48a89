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


# Importable so that code catching them runs unchanged; this engine has none of the limits
# behind them (no event cap, no nesting cap; a run past max_duration fails with TimeoutError
# and steps are addressed by their calls), so it never raises them.

class WorkflowTimeoutError(WorkflowError):
    def __init__(self, run_id: str, max_duration: str) -> None:
        super().__init__(f"Workflow {run_id} exceeded max duration: {max_duration}")
        self.run_id = run_id
        self.max_duration = max_duration


class StepNotFoundError(WorkflowError):
    def __init__(self, step_id: str) -> None:
        super().__init__(f"Step not found: {step_id}")
        self.step_id = step_id


class EventLimitExceededError(FatalError):
    def __init__(self, run_id: str, event_count: int, limit: int) -> None:
        super().__init__(f"Workflow {run_id} exceeded maximum event limit: "
                         f"{event_count} >= {limit}")
        self.run_id = run_id
        self.event_count = event_count
        self.limit = limit


class MaxNestingDepthError(WorkflowError):
    MAX_DEPTH = 3

    def __init__(self, current_depth: int) -> None:
        super().__init__(f"Maximum nesting depth of {self.MAX_DEPTH} exceeded. Current depth: "
                         f"{current_depth}.")
        self.current_depth = current_depth
        self.max_depth = self.MAX_DEPTH


__all__ = ["CancellationError", "ContextError", "EventLimitExceededError", "FatalError",
           "MaxNestingDepthError", "RetryableError", "StepNotFoundError",
           "WorkflowAlreadyRunningError", "WorkflowError", "WorkflowNotFoundError",
           "WorkflowTimeoutError"]
