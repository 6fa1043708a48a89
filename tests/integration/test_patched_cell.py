"""A %%workflow cell edited under a run in flight, the edit behind pw.patched: the run finishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel
from notebook_kernel import execute, kernel_name

__all__ = ["kernel_name"]

STEPS = """
%load_ext pyworkflow_nb
import pyworkflow_nb as pw

@pw.step
def fetch():
    return 1

@pw.step
def audit():
    return 100
"""

BEFORE = """%%workflow approval() --run --id order-1
n = await fetch()
by = await pw.wait_for_event("approve")
return f"{n} approved by {by}"
"""

EDITED = """%%workflow approval()
n = await fetch()
if pw.patched("audit-first"):  # new runs audit before they wait; order-1 is past this point
    n += await audit()
by = await pw.wait_for_event("approve")
if pw.patched("shout"):  # order-1 meets this live: it takes the change
    by = by.upper()
return f"{n} approved by {by}"
"""


def run(kc: Any, code: str) -> str:
    """What a cell showed; an error fails the test."""
    return execute(kc, code)[1]


def test_an_edit_behind_patched_keeps_the_run_in_flight(tmp_path: Path, kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        run(kc, STEPS)
        run(kc, BEFORE)
        run(kc, "import time\nwhile pw.get_run('order-1').status() != 'waiting':\n"
                "    time.sleep(0.01)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)  # the kernel restarts with the run waiting

    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        run(kc, STEPS)
        run(kc, EDITED)
        assert "order-1 (approval): ok" in run(kc, "%wf replay order-1")
        run(kc, "%wf send order-1 approve \"ana\"")
        assert run(kc, "print(pw.SyncClient().get_run('order-1').result(timeout=10))") \
            == "1 approved by ANA\n"
        fresh = run(kc, "h = pw.SyncClient().start(approval, run_id='order-2')\n"
                        "h.send_event('approve', 'bo'); print(h.result(timeout=10))")
        assert fresh == "101 approved by BO\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
