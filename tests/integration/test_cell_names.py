"""Failures and divergences in a real kernel name the cell the user wrote, by its number."""

from __future__ import annotations

from pathlib import Path

from jupyter_client.manager import start_new_kernel
from notebook_kernel import execute, kernel_name

__all__ = ["kernel_name"]



def test_tracebacks_and_divergences_name_the_cell(tmp_path: Path, kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        execute(kc, "%load_ext pyworkflow_nb\nimport pyworkflow_nb as pw")
        steps, _ = execute(kc, "@pw.step(max_retries=0)\ndef flaky(x):\n"
                               "    raise ValueError(f'flaky {x}')\n\n"
                               "@pw.step\ndef add(a, b):\n    return a + b\n")
        cell, shown = execute(kc, "%%workflow pipe() --run --id bad --wait\n"
                                  "x = 1\nreturn await flaky(x)\n", error_ok=True)
        assert f"Cell In[{cell}], line 3, in pipe" in shown, shown
        assert f"Cell In[{steps}], line 3, in flaky" in shown, shown

        execute(kc, "%%workflow div() --run --id d1\nawait add(1, 1)\n"
                    "return await pw.wait_for_event('go')\n")
        execute(kc, "import time\nwhile pw.get_run('d1').status() != 'waiting':\n"
                    "    time.sleep(0.01)")
        edited, _ = execute(kc, "%%workflow div()\nawait flaky(1)\n"
                                "return await pw.wait_for_event('go')\n")
        _, verdicts = execute(kc, "%wf replay d1")
        assert "expected: step add#1 at position 1" in verdicts, verdicts
        assert f"actual:   step flaky#1 at position 1 (Cell In[{edited}], line 2)" in verdicts
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
