"""Write the recorded histories the replay tests read: ``python record_histories.py``.

Runs each workflow of ``replay_workflows.py`` on a virtual clock in a scratch store and
exports its history. Re-record only when the history format or a workflow changes on purpose.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from replay_workflows import (  # noqa: E402
    HistCloudflare,
    hist_approval,
    hist_child_retry,
    hist_dormant,
    hist_gather,
    hist_messages,
    hist_patched,
    hist_patched_before,
    hist_pipeline,
    hist_shielded,
)

import pyworkflow_nb as pw  # noqa: E402
from pyworkflow_nb.compat import cloudflare, durable_workflow  # noqa: E402
from pyworkflow_nb.compat import pyworkflow as pwe  # noqa: E402
from pyworkflow_nb.definitions import registry  # noqa: E402
from pyworkflow_nb.runtime import runtime  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pw.configure(store=str(Path(tmp) / "record.duckdb"))
        pw.use_virtual_clock(datetime(2025, 1, 1, tzinfo=timezone.utc))
        c = pw.SyncClient()
        gather = c.start(hist_gather, run_id="gather-1")
        c.skip("1s")  # both steps done, waiting for "go"
        gather.export_history(HERE / "gather_waiting.json")
        gather.send_event("go", 2)
        assert gather.result() == [1, 20]
        gather.export_history(HERE / "gather_completed.json")
        pipeline = c.start(hist_pipeline, "k", run_id="pipeline-1")
        c.skip("2h")
        pipeline.send_event("approve", "ana")
        result = pipeline.result()
        assert result["kid"] == 3 and result["timed_out"] is True, result
        pipeline.export_history(HERE / "pipeline_completed.json")
        before = c.start(pw.workflow(name="hist_patched")(hist_patched_before),
                         run_id="patched-before")
        before.send_event("go", 2)
        assert before.result() == 3
        before.export_history(HERE / "patched_before.json")
        registry.add(hist_patched)  # the code with the change again
        after = c.start(hist_patched, run_id="patched-after")
        after.send_event("go", 2)
        assert after.result() == 3
        after.export_history(HERE / "patched_after.json")
        messages = c.start(hist_messages, run_id="messages-1")
        c.skip("1s")
        messages.pause()
        messages.signal("add", 1)  # recorded now, handed over at the resume
        messages.resume()
        assert messages.update("double", 3) == 30
        messages.signal("add", 2)
        assert messages.result() == {"seen": [1, 2]}
        messages.export_history(HERE / "messages_completed.json")
        kid = c.start(hist_child_retry, run_id="child-retry-1")
        c.skip("2m")
        assert kid.result() == "kid ok"
        kid.export_history(HERE / "child_retried.json")
        record_dormant(c)
        record_front_ends(c)
        record_first_commands(c)
        pw.shutdown()
        pw.use_real_clock()
    print(f"wrote histories in {HERE}")


def record_front_ends(c: pw.SyncClient) -> None:
    """A Cloudflare DAG with a named sleep and wait, and a generator workflow with an
    activity, a timer, a side effect and a signal (the store is on the virtual clock)."""
    instance = asyncio.run(cloudflare.Env(ORDER=HistCloudflare).ORDER.create(id="cf-1"))
    c.skip("1d")
    asyncio.run(instance.send_event(type="approved", payload={"by": "ana"}))
    assert c.get_run("cf-1").result() == {"total": 3, "by": "ana"}
    c.get_run("cf-1").export_history(HERE / "cloudflare_completed.json")
    client = durable_workflow.Client()
    durable_workflow.Worker(client, task_queue="default")  # serves it from the start
    asyncio.run(client.start_workflow("hist-generator", workflow_id="generator-1",
                                      input=["bo"]))
    c.skip("1m")
    c.get_run("generator-1").signal("approve", "ana")
    assert c.get_run("generator-1").result() == {"greeting": "hi bo", "token": "tok-1",
                                                 "by": "ana"}
    c.get_run("generator-1").export_history(HERE / "generator_completed.json")
    asyncio.run(client.start_workflow("hist-generator", task_queue="hist-late",
                                      workflow_id="generator-queued", input=["cy"]))
    c.skip("1m")  # no worker serves "hist-late": the run waits for one
    durable_workflow.Worker(client, task_queue="hist-late")
    c.skip("1m")
    c.get_run("generator-queued").signal("approve", "di")
    assert c.get_run("generator-queued").result()["by"] == "di"
    c.get_run("generator-queued").export_history(HERE / "generator_queued.json")
    shielded = asyncio.run(pwe.start(hist_shielded))
    asyncio.run(pwe.cancel_workflow(shielded, reason="changed my mind"))
    c.skip("1h")
    assert c.get_run(shielded).status() == "cancelled"
    c.get_run(shielded).export_history(HERE / "shielded_cancelled.json")


def record_dormant(c: pw.SyncClient) -> None:
    """A run that left memory while it slept (dormancy) and was rebuilt when its timer fired."""
    dormant = c.start(hist_dormant, 2, run_id="dormant-1")
    engine = runtime.ensure()
    c.skip("1s")
    assert engine.on_loop(lambda: "dormant-1" in engine.dormancy.runs), "it never went dormant"
    c.skip("2h")
    assert dormant.result() == 20
    dormant.export_history(HERE / "dormant_woken.json")


def record_first_commands(c: pw.SyncClient) -> None:
    """A run that waits for an event first; then three histories cut right after
    ``workflow.started``, before the first command (a step, a timer, a wait) was recorded."""
    approval = c.start(hist_approval, "laptop", run_id="approval-1")
    approval.send_event("approve", "ana")
    assert approval.result() == "laptop approved by ana"
    approval.export_history(HERE / "approval_completed.json")
    for whole, cut in (("pipeline_completed", "pipeline_started"),
                       ("shielded_cancelled", "shielded_started"),
                       ("approval_completed", "approval_started")):
        history = json.loads((HERE / f"{whole}.json").read_text())
        history["events"] = history["events"][:1]
        (HERE / f"{cut}.json").write_text(json.dumps(history, indent=1) + "\n")


def record_only(record: Callable[[pw.SyncClient], None], what: str) -> None:
    """Re-record one group of histories (``python record_histories.py front-ends|dormant``)."""
    with tempfile.TemporaryDirectory() as tmp:
        pw.configure(store=str(Path(tmp) / "record.duckdb"))
        pw.use_virtual_clock(datetime(2025, 1, 1, tzinfo=timezone.utc))
        record(pw.SyncClient())
        pw.shutdown()
        pw.use_real_clock()
    print(f"wrote the {what} histories in {HERE}")


if __name__ == "__main__":
    groups = {"front-ends": record_front_ends, "dormant": record_dormant,
              "first-commands": record_first_commands}
    if sys.argv[1:] and sys.argv[1] in groups:
        record_only(groups[sys.argv[1]], sys.argv[1])
    else:
        main()
