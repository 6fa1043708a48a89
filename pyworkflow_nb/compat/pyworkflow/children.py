"""pyworkflow's child workflows over this engine's: ``start_child_workflow`` waits for the
child's result, or (``wait_for_completion=False``) returns a ``ChildWorkflowHandle``."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from ... import client as native
from ... import primitives
from ...context import current_run, current_step, require_run
from ...errors import RunNotFound
from ...runtime import runtime
from .definitions import checkpoint, native_of
from .errors import ContextError, WorkflowError
from .runs import RunStatus, WorkflowRun


class ChildWorkflowError(WorkflowError):
    """Base of the child workflow errors."""


class ChildWorkflowFailedError(ChildWorkflowError):
    """A child run failed (or was cancelled) while its parent waited for it."""

    def __init__(self, child_run_id: str, child_workflow_name: str, error: str,
                 error_type: str) -> None:
        super().__init__(f"Child workflow '{child_workflow_name}' ({child_run_id}) failed: "
                         f"{error}")
        self.child_run_id = child_run_id
        self.child_workflow_name = child_workflow_name
        self.error = error
        self.error_type = error_type


def _failed(run_id: str, name: str, exc: BaseException) -> ChildWorkflowFailedError:
    row = runtime.ensure().get_row(run_id)
    error = json.loads(row.error) if row.error else {}
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return ChildWorkflowFailedError(run_id, name, error.get("message") or str(cause),
                                    error.get("type") or type(cause).__name__)


@dataclass
class ChildWorkflowHandle:
    """A child run started with ``wait_for_completion=False``."""

    child_id: str
    child_run_id: str
    child_workflow_name: str
    parent_run_id: str
    _child: primitives.ChildHandle = field(repr=False)

    async def get_status(self) -> RunStatus:
        """The child's status now (``PENDING`` until its run is created); in the parent
        workflow the answer is recorded, so a replay takes the same branch."""
        def read() -> str:
            try:
                return WorkflowRun.from_row(runtime.ensure().get_row(self.child_run_id)
                                            ).status.value
            except RunNotFound:
                return RunStatus.PENDING.value

        if current_run.get() is None or current_step.get() is not None:
            return RunStatus(read())
        return RunStatus(require_run("ChildWorkflowHandle.get_status()").record_value(
            "child_status", read))

    async def result(self, timeout: float | None = None) -> Any:
        """The child's result; ``ChildWorkflowFailedError`` if it failed or was cancelled.
        In the parent workflow the wait is durable (``timeout`` bounds it there too)."""
        try:
            if timeout is None:
                return await checkpoint(self._child.result())
            return await checkpoint(asyncio.wait_for(self._child.result(), timeout))
        except (TimeoutError, ChildWorkflowFailedError):
            raise
        except Exception as exc:  # the child's failure (its own error, or WorkflowFailed)
            raise _failed(self.child_run_id, self.child_workflow_name, exc) from exc

    async def cancel(self, reason: str | None = None) -> bool:
        """Ask the child to cancel; ``False`` when it had ended already."""
        if runtime.ensure().get_row(self.child_run_id).finished:
            return False
        await native.RunHandle(self.child_run_id).cancel(reason)
        return True

    async def is_running(self) -> bool:
        return await self.get_status() in {RunStatus.PENDING, RunStatus.RUNNING,
                                           RunStatus.SUSPENDED}

    async def is_terminal(self) -> bool:
        return await self.get_status() in {RunStatus.COMPLETED, RunStatus.FAILED,
                                           RunStatus.CANCELLED}


async def start_child_workflow(workflow: Any, *args: Any, wait_for_completion: bool = True,
                               **kwargs: Any) -> Any:
    """Start ``workflow`` as a child of the running workflow: its result (or
    ``ChildWorkflowFailedError``), or at once a ``ChildWorkflowHandle``."""
    if current_run.get() is None:
        raise ContextError("start_child_workflow() can only be awaited in a workflow")
    definition = native_of(workflow)
    child = primitives.start_child(definition, *args, **kwargs)
    parent = require_run("start_child_workflow()").info().run_id
    handle = ChildWorkflowHandle(child.run_id.rpartition("/")[2], child.run_id,
                                 definition.name, parent, child)
    if not wait_for_completion:
        return handle
    return await handle.result()


__all__ = ["ChildWorkflowError", "ChildWorkflowFailedError", "ChildWorkflowHandle",
           "start_child_workflow"]
