"""``pw.Replayer``: check workflow code against recorded runs, offline, before it meets them.

A history is a run id of the store, a handle, the list ``handle.events()`` returns, or a
``.json`` file written by ``handle.export_history(path)``. Replaying it runs the workflow's
code against the recorded events with no store write, no step executed and no timer armed;
the verdict says whether the code still fits (see :mod:`pyworkflow_nb.engine.offline`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Union

from .client import BaseRunHandle
from .definitions import Workflow
from .engine.offline import ReplayVerdict, replay_history
from .errors import InvalidInput
from .history.files import read_history_file, rows_from_dicts, workflow_of
from .runtime import runtime
from .store import EventRow

History = Union[str, "os.PathLike[str]", BaseRunHandle, list[dict[str, Any]]]


class Replayer:
    """Replays recorded runs against the code of ``workflows``.

    ``pw.Replayer([pipeline]).replay("a1b2c3")`` returns a :class:`ReplayVerdict`: truthy when
    the code fits, else with the divergence report in ``detail`` and ``error``.
    """

    def __init__(self, workflows: Iterable[Workflow | type]) -> None:
        self.workflows: dict[str, Workflow] = {}
        for given in workflows:
            wf = getattr(given, "__pw_workflow__", given)  # a front-end's class, e.g.
            if not isinstance(wf, Workflow):                # a Cloudflare WorkflowEntrypoint
                raise InvalidInput(f"pw.Replayer takes @pw.workflow functions, got {given!r}")
            self.workflows[wf.name] = wf
        if not self.workflows:
            raise InvalidInput("pw.Replayer needs at least one workflow: pw.Replayer([my_wf])")

    def replay(self, history: History) -> ReplayVerdict:
        """The verdict for one recorded run."""
        events = load_history(history)
        name = workflow_of(events)
        workflow = self.workflows.get(name)
        if workflow is None:
            known = ", ".join(sorted(self.workflows))
            raise InvalidInput(f"the history is a run of workflow {name!r}, which this Replayer "
                               f"was not given (it has: {known}); pass it to pw.Replayer([...])")
        return replay_history(workflow, events)

    def replay_many(self, histories: Iterable[History] | None = None) -> list[ReplayVerdict]:
        """One verdict per history; by default, every unfinished run of these workflows."""
        if histories is None:
            histories = unfinished_run_ids(self.workflows)
        return [self.replay(h) for h in histories]


def unfinished_run_ids(workflows: Iterable[str]) -> list[str]:
    """The store's unfinished runs of ``workflows``, oldest first."""
    names = set(workflows)
    store = runtime.ensure().store
    return [row.run_id for row, _ in store.unfinished_histories() if row.workflow in names]


def load_history(history: History) -> list[EventRow]:
    """The event rows of a history given in any of the accepted forms."""
    if isinstance(history, BaseRunHandle):
        return runtime.ensure().events(history.run_id)
    if isinstance(history, os.PathLike) or (isinstance(history, str)
                                            and history.endswith(".json")):
        return read_history_file(history)
    if isinstance(history, str):
        return runtime.ensure().events(history)
    if isinstance(history, list):
        return rows_from_dicts(history, "the events list")
    raise InvalidInput(f"a history is a run id, a RunHandle, handle.events() or a .json file "
                       f"from handle.export_history(path); got {type(history).__name__}")
