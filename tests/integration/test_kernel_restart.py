"""A kernel killed while a run sleeps: a new kernel on the same store resumes and finishes it."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell
from notebook_kernel import client, kernel_name, load, text

__all__ = ["kernel_name"]


def test_run_resumes_after_hard_kernel_kill(tmp_path: Path, kernel_name: str) -> None:
    nb = load("recovery.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = client(nb, tmp_path, kernel_name)
    with first.setup_kernel():
        for cell in code[:3]:
            first.execute_cell(cell, nb.cells.index(cell))
        probe = new_code_cell("pw.get_run('nightly-1').status()")
        deadline = time.monotonic() + 30
        while "'sleeping'" not in text(probe):
            assert time.monotonic() < deadline, f"run never slept: {text(probe)}"
            first.execute_cell(probe, 0)
        kill = new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        with contextlib.suppress(DeadKernelError):
            first.execute_cell(kill, 0)
    assert (tmp_path / "before.marker").read_text() == "ran\n"
    assert not (tmp_path / "after.marker").exists()

    nb = load("recovery.ipynb")
    second = client(nb, tmp_path, kernel_name)
    show = new_code_cell("%wf show nightly-1")
    nb.cells.append(show)
    with second.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                second.execute_cell(cell, index)
    code = [c for c in nb.cells if c.cell_type == "code"]
    line = text(code[0])  # %load_ext, before the cell that defines the workflow ran
    assert "resumed" not in line, "a run waiting for its definition was not resumed yet"
    assert "1 run waits for its workflow to be defined: nightly-1 (nightly)" in line
    assert "'done'" in text(code[3])
    assert "{'before': 1, 'after': 1}" in text(code[4])
    (shown,) = show.outputs
    assert "application/vnd.jupyter.widget-view+json" in shown["data"], "the timeline widget"
    page = shown["data"]["text/html"]
    assert "completed" in page and "mark" in page and "sleep" in page, "rebuilt from the store"
