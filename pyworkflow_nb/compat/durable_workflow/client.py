"""``Client``, ``WorkflowHandle`` and ``Worker``, shaped after the SDK but running in-process:
the "server" is this engine and its store, so the URL and tokens are accepted and unused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ... import client as native
from ...errors import InvalidInput, PyWorkflowError, RunNotFound
from ...errors import (
    WorkflowCancelled as NativeCancelled,
)
from ...errors import (
    WorkflowFailed as NativeFailed,
)
from ...errors import (
    WorkflowTerminated as NativeTerminated,
)
from .workflow import registry


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
            row = self._run.row()
        except RunNotFound as exc:
            raise WorkflowNotFound(str(exc)) from exc
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


class Client:
    """The control plane, in-process: starts and finds workflows of this engine."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None,
                 control_token: str | None = None, worker_token: str | None = None,
                 namespace: str = "default", timeout: float = 60.0,
                 metrics: Any = None) -> None:
        self.base_url = base_url
        self.namespace = namespace

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def start_workflow(self, workflow_type: str, task_queue: str = "default",
                             workflow_id: str | None = None, input: list[Any] | None = None,
                             execution_timeout_seconds: float | None = None,
                             run_timeout_seconds: float | None = None) -> WorkflowHandle:
        """Start ``workflow_type`` with ``input`` as its arguments; an existing
        ``workflow_id`` raises ``WorkflowAlreadyStarted``."""
        if workflow_type not in registry():
            raise WorkflowNotFound(f"no workflow type {workflow_type!r} is registered; "
                                   "decorate its class with @workflow.defn(name=...)")
        if workflow_id is not None:
            try:
                native.get_run(workflow_id)
            except RunNotFound:
                pass
            else:
                raise WorkflowAlreadyStarted(f"workflow {workflow_id!r} already exists")
        handle = await native.start(workflow_type, *(input or []), run_id=workflow_id)
        return WorkflowHandle(handle.run_id)

    def get_workflow_handle(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(workflow_id)

    async def describe_workflow(self, workflow_id: str) -> WorkflowExecution:
        return await WorkflowHandle(workflow_id).describe()

    async def signal_workflow(self, workflow_id: str, name: str,
                              args: list[Any] | None = None) -> None:
        await WorkflowHandle(workflow_id).signal(name, args)

    async def query_workflow(self, workflow_id: str, name: str,
                             args: list[Any] | None = None) -> Any:
        return await WorkflowHandle(workflow_id).query(name, args)

    async def update_workflow(self, workflow_id: str, name: str,
                              args: list[Any] | None = None, *, wait_for: str = "completed",
                              wait_timeout_seconds: float | None = None) -> Any:
        return await WorkflowHandle(workflow_id).update(name, args)


class Worker:
    """Registers workflows and activities; the engine runs them in this process, so
    ``run_until`` just waits for the workflow to end."""

    def __init__(self, client: Client, *, task_queue: str, workflows: Sequence[type] = (),
                 activities: Sequence[Any] = (), worker_id: str | None = None,
                 poll_timeout: float = 35.0, max_concurrent_workflow_tasks: int = 10,
                 max_concurrent_activity_tasks: int = 10, shutdown_timeout: float = 30.0,
                 metrics: Any = None) -> None:
        for cls in workflows:
            if not hasattr(cls, "__pw_workflow__"):
                raise InvalidInput(f"Worker(workflows=...) takes @workflow.defn classes, got "
                                   f"{cls!r}")
        self.client = client
        self.task_queue = task_queue
        self._stopped = asyncio.Event()

    async def run_until(self, *, workflow_id: str, timeout: float | None = None) -> None:
        """Wait until ``workflow_id`` ends (or ``timeout`` seconds pass)."""
        with contextlib.suppress(PyWorkflowError):  # ended otherwise: result() says how
            await native.RunHandle(workflow_id).result(timeout=timeout)

    async def run(self) -> None:
        """Serve until :meth:`stop`: the engine already runs every registered workflow."""
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
