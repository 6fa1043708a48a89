"""The SDK's errors and its workflow handle, over this engine's runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ... import client as native
from ...errors import InvalidInput, PyWorkflowError, RunNotFound
from ...errors import WorkflowCancelled as NativeCancelled
from ...errors import WorkflowFailed as NativeFailed
from ...errors import WorkflowTerminated as NativeTerminated
from ...store import RunRow


class DurableWorkflowError(PyWorkflowError):
    """The base of the SDK's errors here."""


class WorkflowNotFound(DurableWorkflowError):
    """No workflow with that id (or type) exists."""


class WorkflowAlreadyStarted(DurableWorkflowError):
    """A workflow with that id exists already."""


class WorkflowFailed(DurableWorkflowError):
    """The workflow execution failed."""


class WorkflowCancelled(DurableWorkflowError):
    """The workflow was cancelled."""


class WorkflowTerminated(DurableWorkflowError):
    """The workflow was terminated."""


class QueryFailed(DurableWorkflowError):
    """A query handler raised, or no handler has that name."""


_STATUS = {"waiting_for_definition": "pending", "sleeping": "running", "waiting": "running",
           "paused": "running"}


@dataclass(frozen=True)
class WorkflowExecution:
    """What ``handle.describe()`` returns."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    start_time: datetime | None
    close_time: datetime | None
    result: Any = None


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


class WorkflowHandle:
    """A workflow by its id: wait for it, describe, signal, query, update, cancel it."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self._run = native.RunHandle(workflow_id)

    async def result(self, timeout: float | None = None) -> Any:
        """The workflow's result; raises ``WorkflowFailed``/``Cancelled``/``Terminated``."""
        try:
            return await self._run.result(timeout=timeout)
        except RunNotFound as exc:
            raise WorkflowNotFound(str(exc)) from exc
        except NativeFailed as exc:
            raise WorkflowFailed(str(exc)) from exc.__cause__
        except NativeTerminated as exc:
            raise WorkflowTerminated(str(exc)) from exc
        except NativeCancelled as exc:
            raise WorkflowCancelled(str(exc)) from exc

    async def describe(self) -> WorkflowExecution:
        try:
            return self.execution(self._run.row())
        except RunNotFound as exc:
            raise WorkflowNotFound(str(exc)) from exc

    @staticmethod
    def execution(row: RunRow) -> WorkflowExecution:
        return WorkflowExecution(row.run_id, row.run_id, row.workflow,
                                 _STATUS.get(row.status, row.status), _time(row.started_at),
                                 _time(row.finished_at))

    async def signal(self, name: str, args: list[Any] | None = None) -> None:
        await self._run.signal(name, *(args or []))

    async def query(self, name: str, args: list[Any] | None = None) -> Any:
        try:
            return await self._run.query(name, *(args or []))
        except InvalidInput as exc:
            raise QueryFailed(str(exc)) from exc

    async def update(self, name: str, args: list[Any] | None = None) -> Any:
        return await self._run.update(name, *(args or []))

    async def cancel(self, reason: str | None = None) -> None:
        await self._run.cancel(reason)

    async def terminate(self, reason: str | None = None) -> None:
        await self._run.terminate(reason)
