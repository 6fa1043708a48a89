"""What a notebook saves of its runs: executed headless, each live display ends as the run's
final static timeline, which reopens, converts and renders without a kernel or a network."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from notebook_kernel import client, kernel_name

__all__ = ["kernel_name"]

CELLS = [
    "%load_ext pyworkflow_nb\nimport pyworkflow_nb as pw\n\n@pw.step\ndef tick(i):\n    return i",
    '%%workflow ticker(n) --run 5 --id t-1\nfor i in range(n):\n    await tick(i)\n'
    '    await pw.sleep("0.1s")\nreturn n',
    'pw.SyncClient().get_run("t-1").result()',  # the run ends while this cell executes
    'pw.SyncClient().get_run("t-1")',  # a finished run, shown again
]


def test_a_headless_run_saves_its_final_static_timeline(tmp_path: Path,
                                                        kernel_name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client(nb, tmp_path, kernel_name).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)

    for cell in (saved.cells[1], saved.cells[3]):
        [output] = cell.outputs
        assert set(output.data) == {"text/plain", "text/html"}, \
            "no widget view left: a reopened notebook has no model to miss"
        assert "completed" in output.data["text/html"]
        assert "5 done / 5 total" in output.data["text/html"]
        assert "running" not in output.data["text/plain"]

    html, _ = HTMLExporter().from_notebook_node(saved)
    assert html.count("pw-timeline-static") == 2 and html.count("5 done / 5 total") == 2
    assert '<script type="application/vnd.jupyter.widget-view+json">' not in html, \
        "no output in the page needs the widget manager (from a CDN) to show"
