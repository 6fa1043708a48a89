"""``Client``, ``WorkflowHandle`` and ``Worker``, shaped after the SDK but running in-process:
the "server" is this engine and its store, so the URL and tokens are accepted and unused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import client as native
from ...errors import InvalidInput, PyWorkflowError, RunNotFound
from ...runtime import runtime
from . import queues, schedules
from .handles import (
    WorkflowAlreadyStarted,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowNotFound,
)
from .metrics import feed
from .workflow import check_timeout, registry

_log = logging.getLogger("durable_workflow.client")
_worker_log = logging.getLogger("durable_workflow.worker")


@dataclass(frozen=True)
class WorkflowList:
    """What ``list_workflows`` returns."""

    executions: list[WorkflowExecution]
    next_page_token: str | None = None


class Client:
    """The control plane, in-process: starts and finds workflows of this engine."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None,
                 control_token: str | None = None, worker_token: str | None = None,
                 namespace: str = "default", timeout: float = 60.0,
                 metrics: Any = None) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.metrics = metrics
        _log.info("durable_workflow runs in this process on pyworkflow_nb's store %s; no "
                  "server is contacted (%s is not used)", runtime.config.store_path(),
                  base_url or "no URL")

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
        ``workflow_id`` raises ``WorkflowAlreadyStarted``. ``run_timeout_seconds`` bounds
        each run, ``execution_timeout_seconds`` the whole chain of runs (continue-as-new):
        past either, the workflow fails as timed out."""
        if workflow_type not in registry():
            raise WorkflowNotFound(f"no workflow type {workflow_type!r} is registered; "
                                   "decorate its class with @workflow.defn(name=...)")
        queues.check_queue(task_queue, "start_workflow")
        budgets: dict[str, Any] = {}
        if run_timeout_seconds is not None:
            budgets["run_timeout"] = check_timeout(run_timeout_seconds,
                                                   "start_workflow(run_timeout_seconds=...)")
        if execution_timeout_seconds is not None:
            budgets["execution_deadline"] = runtime.ensure().clock.now() + check_timeout(
                execution_timeout_seconds, "start_workflow(execution_timeout_seconds=...)")
        if workflow_id is not None:
            try:
                native.get_run(workflow_id)
            except RunNotFound:
                pass
            else:
                raise WorkflowAlreadyStarted(f"workflow {workflow_id!r} already exists")
        handle = await native.start(workflow_type, *(input or []), run_id=workflow_id,
                                    task_queue=task_queue, **budgets)
        return WorkflowHandle(handle.run_id)

    def get_workflow_handle(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(workflow_id)

    async def create_schedule(self, schedule_id: str, spec: schedules.ScheduleSpec,
                              action: schedules.ScheduleAction, *,
                              overlap_policy: str = "skip", jitter_seconds: float | None = None,
                              paused: bool = False,
                              note: str | None = None) -> schedules.ScheduleHandle:
        """Create a schedule (see :mod:`.schedules`); an id in use raises
        ``ScheduleAlreadyExists``."""
        return await schedules.create_schedule(schedule_id, spec, action,
                                               overlap_policy=overlap_policy,
                                               jitter_seconds=jitter_seconds, paused=paused,
                                               note=note)

    def get_schedule_handle(self, schedule_id: str) -> schedules.ScheduleHandle:
        return schedules.ScheduleHandle(schedule_id)

    async def list_schedules(self) -> schedules.ScheduleList:
        return await schedules.list_schedules()

    async def list_workflows(self, *, workflow_type: str | None = None,
                             status: str | None = None, page_size: int = 100,
                             next_page_token: str | None = None) -> WorkflowList:
        """Workflows, newest first, of one type and/or status (``running`` covers
        sleeping, waiting and paused runs, as the SDK's status does)."""
        rows = runtime.ensure().store.list_runs(workflow=workflow_type, limit=None)
        executions = [WorkflowHandle.execution(row) for row in rows]
        if status is not None:
            executions = [e for e in executions if e.status == status]
        return WorkflowList(executions[:page_size])

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
    """Serves its task queue in this process from its creation until :meth:`stop`: workflows
    and activities on that queue run (on this engine); on a queue no worker serves, they
    wait, visibly. ``run_until`` waits for one workflow to end, ``run`` until ``stop()``."""

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
        self.task_queue = queues.check_queue(task_queue, "Worker")
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._stopped = asyncio.Event()
        recorder = metrics if metrics is not None else client.metrics
        self._unfeed = feed(recorder, task_queue) if recorder is not None else None
        queues.serve(task_queue, self.worker_id)
        self._serving = True
        _worker_log.info("worker %s serves task queue %r in this process", self.worker_id,
                         task_queue)

    async def run_until(self, *, workflow_id: str, timeout: float | None = None) -> None:
        """Wait until ``workflow_id`` ends (or ``timeout`` seconds pass)."""
        with contextlib.suppress(PyWorkflowError):  # ended otherwise: result() says how
            await native.RunHandle(workflow_id).result(timeout=timeout)

    async def run(self) -> None:
        """Serve until :meth:`stop`: the engine already runs every registered workflow."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop serving the queue: new workflows and activities on it wait for a worker."""
        self._stopped.set()
        if self._serving:
            self._serving = False
            queues.unserve(self.task_queue)
        if self._unfeed is not None:
            self._unfeed()
            self._unfeed = None
