"""Steering runs across a kernel restart: paused stays paused, queries, updates, chains."""

from __future__ import annotations

from pathlib import Path

from jupyter_client.manager import start_new_kernel
from notebook_kernel import execute, kernel_name

__all__ = ["kernel_name"]

DEFINE = """
%load_ext pyworkflow_nb
import pyworkflow_nb as pw

@pw.workflow
async def counter(n):
    seen = {"n": n}
    pw.set_query_handler("n", lambda: seen["n"])
    def bump(by):
        seen["n"] += by
        return seen["n"]
    pw.set_update_handler("bump", bump)
    await pw.sleep("1d")
    if seen["n"] < 3:
        pw.continue_as_new(seen["n"])
    return seen["n"]
"""


def test_runs_keep_their_steering_across_a_kernel_restart(tmp_path: Path,
                                                         kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        execute(kc, DEFINE)
        execute(kc, "c = pw.SyncClient()\n"
                    "s = c.start(counter, 0, run_id='sleepy')\n"
                    "p = c.start(counter, 0, run_id='held')\n"
                    "import time\n"
                    "while s.status() != 'sleeping' or p.status() != 'sleeping':\n"
                    "    time.sleep(0.01)\n"
                    "p.pause()\n"
                    "print(s.update('bump', 1, update_id='u-1'))")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        execute(kc, DEFINE)
        _, printed = execute(kc, "c = pw.SyncClient()\n"
                                 "s, p = c.get_run('sleepy'), c.get_run('held')\n"
                                 "print(p.status(), s.query('n'),"
                                 "      s.update('bump', 1, update_id='u-1'))")
        assert printed == "paused 1 1\n", "paused stays paused; the update applied once"
        _, printed = execute(kc, "pw.use_virtual_clock()\n"
                                 "c = pw.SyncClient(); s = c.get_run('sleepy')\n"
                                 "c.skip('1d'); c.skip('1d')\n"
                                 "chain = c.run_chain('sleepy')\n"
                                 "print(len(chain) > 1, chain[-1].query('n'), "
                                 "c.get_run('held').status())")
        assert printed == "True 1 paused\n", "the chain goes on in its latest run"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
