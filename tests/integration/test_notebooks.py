"""The notebooks in notebooks/ run headless on a real kernel and show what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_kernel import NOTEBOOKS, client, kernel_name, load, text

__all__ = ["kernel_name"]


@pytest.mark.parametrize("name", ["quickstart.ipynb", "recovery.ipynb"])
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_quickstart_runs(tmp_path: Path, kernel_name: str) -> None:
    nb = load("quickstart.ipynb")
    client(nb, tmp_path, kernel_name).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [text(c) for c in code]
    assert "pyworkflow_nb: store" in outputs[0]
    assert "14" in outputs[2]                        # 0 + 1 + 4 + 9
    assert "quick-1" in outputs[3] and "completed" in outputs[3]
    assert "pw-timeline-static" in outputs[4]
    assert "fetch" in outputs[6] and "4" in outputs[6]
    assert "sent 'approved' to run approve-1" in outputs[8]
    assert "paid 120, approved by ana" in outputs[9]
    assert (tmp_path / ".pyworkflow_nb" / "store.duckdb").exists()


def test_recovery_runs_straight_through(tmp_path: Path, kernel_name: str) -> None:
    nb = load("recovery.ipynb")
    client(nb, tmp_path, kernel_name).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "'done'" in text(code[3])
    assert "{'before': 1, 'after': 1}" in text(code[4])


def test_autoload_from_config(tmp_path: Path, kernel_name: str) -> None:
    nb = load("quickstart.ipynb")
    nb.cells = [c for c in nb.cells if c.cell_type == "code"][1:3]
    client(nb, tmp_path, kernel_name,
           extra_arguments=["--InteractiveShellApp.extensions=pyworkflow_nb"]).execute()
    assert "pyworkflow_nb: store" in text(nb.cells[0])
    assert "14" in text(nb.cells[1])
