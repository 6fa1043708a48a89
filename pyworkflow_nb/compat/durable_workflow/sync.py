"""``durable_workflow.sync.Client``: the async client's calls, each run to completion."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

from ...runtime import runtime
from .client import Client as AsyncClient
from .handles import WorkflowExecution, WorkflowHandle

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion: with ``asyncio.run``, or on a helper thread when the
    caller's thread already runs a loop (a notebook cell)."""
    runtime.ensure()  # the engine on its own thread, not on the short-lived loop below
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class SyncWorkflowHandle:
    """A workflow handle whose calls block."""

    def __init__(self, handle: WorkflowHandle) -> None:
        self._handle = handle
        self.workflow_id = handle.workflow_id

    def result(self, timeout: float | None = None) -> Any:
        return _run(self._handle.result(timeout))

    def describe(self) -> WorkflowExecution:
        return _run(self._handle.describe())

    def signal(self, name: str, args: list[Any] | None = None) -> None:
        _run(self._handle.signal(name, args))

    def query(self, name: str, args: list[Any] | None = None) -> Any:
        return _run(self._handle.query(name, args))

    def update(self, name: str, args: list[Any] | None = None) -> Any:
        return _run(self._handle.update(name, args))

    def cancel(self, reason: str | None = None) -> None:
        _run(self._handle.cancel(reason))

    def terminate(self, reason: str | None = None) -> None:
        _run(self._handle.terminate(reason))


class Client:
    """The synchronous twin of ``durable_workflow.Client``."""

    def __init__(self, base_url: str | None = None, **options: Any) -> None:
        self._client = AsyncClient(base_url, **options)

    def start_workflow(self, workflow_type: str, task_queue: str = "default",
                       workflow_id: str | None = None, input: list[Any] | None = None,
                       execution_timeout_seconds: float | None = None,
                       run_timeout_seconds: float | None = None) -> SyncWorkflowHandle:
        return SyncWorkflowHandle(_run(self._client.start_workflow(
            workflow_type, task_queue, workflow_id, input, execution_timeout_seconds,
            run_timeout_seconds)))

    def get_workflow_handle(self, workflow_id: str) -> SyncWorkflowHandle:
        return SyncWorkflowHandle(self._client.get_workflow_handle(workflow_id))

    def describe_workflow(self, workflow_id: str) -> WorkflowExecution:
        return _run(self._client.describe_workflow(workflow_id))

    def signal_workflow(self, workflow_id: str, name: str,
                        args: list[Any] | None = None) -> None:
        _run(self._client.signal_workflow(workflow_id, name, args))

    def query_workflow(self, workflow_id: str, name: str,
                       args: list[Any] | None = None) -> Any:
        return _run(self._client.query_workflow(workflow_id, name, args))

    def update_workflow(self, workflow_id: str, name: str,
                        args: list[Any] | None = None) -> Any:
        return _run(self._client.update_workflow(workflow_id, name, args))


__all__ = ["Client", "SyncWorkflowHandle"]
