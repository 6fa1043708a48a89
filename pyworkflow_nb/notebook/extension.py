"""``%load_ext pyworkflow_nb``: open the store, resume runs, register the magics; and undo it."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from IPython.core.error import UsageError

from .. import locations
from ..errors import StoreError
from ..runtime import runtime
from .magics import RUN_FAILURES, WorkflowMagics
from .tracebacks import cell_namer
from .wf_commands import open_store

_MAGIC_NAMES = {"line": ("workflow", "wf", "wfsql"), "cell": ("workflow", "wfsql")}


def load(shell: Any) -> None:
    """Register the magics, then open the store and resume its unfinished runs.

    Loaded at kernel start-up (``c.InteractiveShellApp.extensions``, the kernel's loop not yet
    running) there is no cell to report in, so the store opens before the first cell and says
    what it resumed there.
    """
    magics = WorkflowMagics(shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)
    shell.set_custom_exc(RUN_FAILURES, magics.render_failure)
    locations.set_namer(cell_namer(shell))
    if getattr(shell, "kernel", None) is not None and not _loop_running():
        shell.events.register("pre_run_cell", _open_on_first_cell(shell))
        return
    try:
        print(open_store())
    except StoreError as exc:
        raise UsageError(f"pyworkflow_nb: {exc}") from None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _open_on_first_cell(shell: Any) -> Any:
    def opener(info: Any = None) -> None:
        shell.events.unregister("pre_run_cell", opener)
        try:
            print(open_store())
        except StoreError as exc:
            print(f"pyworkflow_nb: {exc}", file=sys.stderr)

    return opener


def unload(shell: Any) -> None:
    """Stop every run where it is (they resume on the next load), flush and close the store."""
    runtime.shutdown()
    shell.set_custom_exc((), None)
    locations.set_namer(None)
    shell.configurables[:] = [c for c in shell.configurables
                              if not isinstance(c, WorkflowMagics)]
    for kind, names in _MAGIC_NAMES.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    shell.magics_manager.registry.pop(WorkflowMagics.__name__, None)
