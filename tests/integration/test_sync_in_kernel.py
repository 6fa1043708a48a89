"""The sync client inside a real kernel: a blocked cell lets runs progress, queued cells follow."""

from __future__ import annotations

from pathlib import Path

from jupyter_client.manager import start_new_kernel
from notebook_kernel import kernel_name

__all__ = ["kernel_name"]

SETUP = """
%load_ext pyworkflow_nb
import pyworkflow_nb as pw

@pw.step
def tick(i):
    return i

@pw.workflow
async def ticker(n):
    for i in range(n):
        await tick(i)
        await pw.sleep(0.01)
    return n

@pw.workflow
async def slow():
    await pw.sleep(0.5)
    return "slow done"
"""


def test_blocking_cell_keeps_runs_moving_and_queued_cell_runs(tmp_path: Path,
                                                             kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        assert kc.execute_interactive(SETUP, timeout=30)["content"]["status"] == "ok"
        blocking = kc.execute("bg = pw.SyncClient().start(ticker, 5)\n"
                              "print(pw.run(slow), bg.status())")
        queued = kc.execute("print('queued ran', bg.status())")
        replies, streams = {}, []
        while len(replies) < 2:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream":
                streams.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                replies[msg["parent_header"]["msg_id"]] = True
        output = "".join(streams)
        assert blocking in replies and queued in replies
        assert output.index("slow done completed") < output.index("queued ran completed")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
