"""Starting runs: a start is durable when it returns, and back-to-back sync starts do not wait
for the engine one by one."""

from __future__ import annotations

import threading
import time

from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import runtime


@pw.workflow
async def waits_for_go() -> str:
    return str(await pw.wait_for_event("go"))


def test_sync_starts_return_while_the_engine_is_busy_and_share_one_write(
        client: pw.SyncClient) -> None:
    engine = runtime.ensure()
    commits = pw.metrics().value("commit_duration_seconds")
    gate = threading.Event()
    opener = threading.Timer(10, gate.set)  # a start that waited for the engine would hang
    opener.start()
    engine.loop.call_soon_threadsafe(gate.wait)  # the engine's loop is busy until the gate opens
    began = time.monotonic()
    handles = [client.start(waits_for_go) for _ in range(20)]
    returned = time.monotonic() - began
    gate.set()
    opener.cancel()
    assert returned < 5, f"the starts waited for the busy engine ({returned:.1f} s)"
    assert len({h.run_id for h in handles}) == 20
    for handle in handles:
        wait_status(handle, "waiting")
    # the 20 starts reached the engine together: one write made them durable
    assert pw.metrics().value("commit_duration_seconds") - commits <= 2
    assert pw.sql("SELECT count(*) FROM runs WHERE workflow = 'waits_for_go'").fetchall() == [
        (20,)]


def test_a_started_run_is_there_for_the_next_call_at_once(client: pw.SyncClient) -> None:
    handle = client.start(waits_for_go)
    assert client.get_run(handle.run_id).status() == "waiting"
    [(status,)] = pw.sql("SELECT status FROM runs WHERE run_id = ?",
                         [handle.run_id]).fetchall()
    assert status == "waiting"
    handle.send_event("go", 1)
    assert handle.result(timeout=5) == "1"
