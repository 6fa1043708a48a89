"""The IPython magics: ``%%workflow``, ``%wf`` and ``%%wfsql`` / ``%wfsql``."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display
from traitlets import Bool

from .. import definitions
from ..errors import NonDeterminismError, PyWorkflowError, WorkflowFailed
from ..sync import SyncClient
from . import sql, wf_commands, workflow_cell
from .tracebacks import current_cell_number, short_traceback


@magics_class
class WorkflowMagics(Magics):
    """Magics that define, run, inspect and query durable workflows from cells."""

    short_errors = Bool(True, help=(
        "Show run failures with the notebook's frames only; False shows full tracebacks, "
        "engine frames included.")).tag(config=True)

    @property
    def _ip(self) -> InteractiveShell:
        if self.shell is None:
            raise UsageError("the pyworkflow_nb magics need a running IPython shell")
        return self.shell

    # -- %%workflow ----------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def workflow(self, line: str, cell: str | None = None) -> Any:
        """Define a workflow whose body is the cell (top-level ``await`` and ``return``).

        ``%%workflow name(params) [--run ARGS] [--id RUN_ID] [--wait]``: ``--run`` starts a
        run with ARGS (Python call arguments, quoted) and shows it live; ``--id`` names the
        run (running the cell again with the same id resumes it, finished steps are not
        recomputed); ``--wait`` blocks the cell until the result.
        """
        if cell is None:
            raise UsageError(f"%%workflow is a cell magic (two %).\nusage: {workflow_cell.USAGE}")
        spec = workflow_cell.parse_line(line)
        source = f"{spec.header}\n{cell}"
        filename = self._ip.compile.cache(source, current_cell_number(self._ip))
        namespace = self._ip.user_ns
        exec(workflow_cell.compile_body(spec, cell, filename), namespace)
        try:
            wf = definitions.workflow(name=spec.name, source=source)(namespace[spec.name])
        except PyWorkflowError as exc:
            raise UsageError(f"%%workflow {spec.name}: {exc}") from None
        namespace[spec.name] = wf
        if spec.run_args is None:
            if spec.run_id is not None or spec.wait:
                raise UsageError("%%workflow: --id and --wait need --run [ARGS]")
            return None
        args, kwargs = workflow_cell.call_arguments(spec.run_args, namespace)
        try:
            handle = SyncClient().start(wf, *args, run_id=spec.run_id, **kwargs)
        except PyWorkflowError as exc:
            raise UsageError(f"%%workflow {spec.name} --run: {exc}") from None
        if not spec.wait:
            display(handle)  # in a kernel: the live timeline widget
            return None
        return handle.result()

    # -- %wf -----------------------------------------------------------------------------------

    @no_var_expand
    @line_magic
    def wf(self, line: str) -> Any:
        """Inspect and act on runs; ``%wf help`` lists the subcommands."""
        return wf_commands.run_wf(line)

    # -- %%wfsql -------------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def wfsql(self, line: str, cell: str | None = None) -> Any:
        """SQL on the store: ``%wfsql SELECT ...`` or ``%%wfsql [name <<]`` + query.

        Tables and views: runs, events, steps, timers, waits, workflows. ``{{var}}`` or
        ``$var`` binds the notebook variable ``var`` as a parameter. ``name << ...`` stores
        the result in ``name``; ``name= << ...`` stores and shows it.
        """
        command = sql.parse(line, cell or "")
        result = sql.execute(command, self._ip.user_ns)
        if command.target is not None:
            self._ip.user_ns[command.target] = result
        return result if command.returns else None

    # -- errors --------------------------------------------------------------------------------

    def render_failure(self, shell: Any, etype: type, value: BaseException, tb: Any,
                       tb_offset: int | None = None) -> list[str]:
        """Show a run failure with the notebook's frames only (unless ``short_errors`` is off).

        IPython ignores a custom handler's return value when user code raised, so it shows
        the traceback itself.
        """
        if self.short_errors:
            stb = short_traceback(value)
        else:
            stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset)
        shell._showtraceback(etype, value, stb)
        return stb


RUN_FAILURES = (WorkflowFailed, NonDeterminismError)
