"""The engine inside a real kernel: a blocked cell stops no run, queued cells follow."""

from __future__ import annotations

from pathlib import Path

from jupyter_client.manager import start_new_kernel
from notebook_kernel import execute, kernel_name

__all__ = ["kernel_name"]

SETUP = """
%load_ext pyworkflow_nb
import time
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

@pw.step
def stamp():
    return time.time()

@pw.workflow
async def timed():
    await pw.sleep(0.5)
    return await stamp()
"""



def test_a_timer_fires_on_time_while_a_cell_sleeps(tmp_path: Path, kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        execute(kc, SETUP)
        _, printed = execute(kc, "began = time.time()\n"
                                 "h = pw.SyncClient().start(timed)\n"
                                 "time.sleep(3)\n"
                                 "print(h.status(), h.result() - began)")
        status, late = printed.split()
        assert status == "completed", "the timer fired while the cell blocked the kernel"
        assert float(late) >= 0.5, f"a 0.5 s durable sleep ended after {late} s"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


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


def test_interrupting_a_blocked_cell_stops_the_wait_not_the_run(tmp_path: Path,
                                                                kernel_name: str) -> None:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(tmp_path))
    try:
        execute(kc, SETUP + "\n@pw.workflow\nasync def gated():\n"
                             "    return await pw.wait_for_event('go')\n")
        blocked = kc.execute("h = pw.SyncClient().start(gated); print('waiting'); h.result()")
        errors = []
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != blocked:
                continue
            if msg["msg_type"] == "stream":  # the cell now blocks in h.result()
                km.interrupt_kernel()
            elif msg["msg_type"] == "error":
                errors.append(msg["content"]["ename"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert errors == ["KeyboardInterrupt"]
        assert execute(kc, "print(h.status()); h.send_event('go', 7); print(h.result())")[1] \
            == "waiting\n7\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
