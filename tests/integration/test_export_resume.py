"""%wf export in a real kernel, then a fresh process resuming the notebook's run from the module.

The notebook's definitions go to a module with what they use (imports, helpers, constants);
their code hashes stay the notebook's, so the run started in the notebook resumes from the
module with no divergence: in a fresh script on the notebook's DuckDB file, and in the worker
command on a PostgreSQL store the notebook still uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from notebook_kernel import client, execute, kernel_name, text
from pg_processes import start_worker
from pg_server import fresh_database

__all__ = ["kernel_name"]

CELLS = [
    "%load_ext pyworkflow_nb\nimport json\nimport time\nimport pyworkflow_nb as pw\n"
    "from math import sqrt as root",
    "SCALE = 3\nconn = object()  # a live resource: nothing a module can be given",
    "def scaled(x):\n    return x * SCALE",
    # a step using an imported alias and a helper; an async step using a module
    "@pw.step(max_retries=2)\ndef measure(x):\n    return root(scaled(x))\n\n\n"
    "@pw.step\nasync def pack(v):\n    return json.dumps({'v': v})",
    # a %%workflow cell, multi-line
    "%%workflow gated(x, label='run')\n"
    "m = await measure(x)\n"
    "approval = await pw.wait_for_event('approve')\n"
    "return await pack([label, m, approval['by']])",
    "@pw.workflow\nasync def leaky():\n    return str(conn)",
    "h = pw.SyncClient().start(gated, 12, run_id='g-1')\n"
    "while h.status() != 'waiting':\n    time.sleep(0.01)\n"
    "print(json.dumps({'gated': gated.version, 'measure': measure.version,"
    " 'pack': pack.version}))",
]


def test_export_then_a_fresh_process_resumes_the_notebooks_run(tmp_path: Path,
                                                              kernel_name: str) -> None:
    store = tmp_path / "store.duckdb"
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path),
                              env={**_env(), "PYWORKFLOW_NB_STORE": str(store)})
    try:
        shown = ""
        for cell in CELLS:
            shown = execute(kc, cell)[1]
        versions = json.loads(shown.strip().splitlines()[-1])
        _, everything = execute(kc, "%wf export flows_all.py")
        _, only = execute(kc, "%wf export flows.py gated")
        first = (tmp_path / "flows.py").read_text()
        _, again = execute(kc, "pw.export('flows.py', gated)")
        assert (tmp_path / "flows.py").read_text() == first, "exporting again is idempotent"
        assert "unchanged" in again and "wrote" in only
        _, bad = execute(kc, "%wf export flows.py nothing_like_it", error_ok=True)
        execute(kc, "pw.shutdown()")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    assert "conn (used by leaky)" in everything, "what cannot be exported is listed"
    assert "could not export" not in only, "gated uses nothing unexportable"
    assert "no workflow named 'nothing_like_it'" in bad and "gated" in bad
    assert "conn" not in first and "leaky" not in first, "only what gated uses"
    assert first.index("def scaled") < first.index("def measure") < first.index("def gated")

    worker = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import pyworkflow_nb as pw
        pw.configure(store={str(store)!r})
        import flows
        client = pw.SyncClient()
        h = client.get_run("g-1")
        h.send_event("approve", {{"by": "ana"}})
        print(json.dumps({{"result": h.result(timeout="30s"),
                          "versions": {{n: getattr(flows, n).version
                                       for n in ("gated", "measure", "pack")}}}}))
        pw.shutdown()
    """)
    proc = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["versions"] == versions, "the module's code hashes are the notebook's"
    assert json.loads(out["result"]) == {"v": ["run", 6.0, "ana"]}


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYWORKFLOW_NB_STORE"}


def test_a_notebook_run_resumes_in_a_worker_from_the_export_and_takes_the_notebooks_event(
        tmp_path: Path, kernel_name: str, pg_server: str) -> None:
    """The production path end to end on PostgreSQL: nbclient runs the notebook, which starts
    a run and exports; the notebook steps back (``pw.shutdown()`` gives its lease up); the
    worker command resumes the run from the module; the notebook sends it the event."""
    pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")
    url = fresh_database(pg_server)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [
        *CELLS, "%wf export flows.py gated", "pw.shutdown()",
        "h = pw.SyncClient().get_run('g-1')\nh.send_event('approve', {'by': 'bo'})\n"
        "print(json.loads(h.result(timeout='60s')))"]])
    nbclient = client(nb, tmp_path, kernel_name)
    env = {**_env(), "PYWORKFLOW_NB_STORE": url, "PYTHONPATH": str(tmp_path)}
    worker = None
    with nbclient.setup_kernel(env=env):
        for index in range(len(nb.cells) - 1):
            nbclient.execute_cell(nb.cells[index], index)
        assert "could not export" not in text(nb.cells[-3])
        worker = start_worker(tmp_path, env, app="flows")
        try:
            assert worker.stdout is not None
            assert "resumed 1 runs" in worker.stdout.readline(), "the notebook's run"
            nbclient.execute_cell(nb.cells[-1], len(nb.cells) - 1)
            assert worker.stdout.readline().strip() == "run g-1 completed"
        finally:
            worker.kill()
            worker.wait(timeout=30)
    assert text(nb.cells[-1]).strip() == str({"v": ["run", 6.0, "bo"]})
