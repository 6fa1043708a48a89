"""Durable Workflow Python SDK code, run unchanged on the engine after install()."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crashing import Crash
from engine.waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.compat import durable_workflow as dw
from pyworkflow_nb.runtime import runtime

dw.install()

from durable_workflow import (  # noqa: E402
    ActivityRetryPolicy,
    ChildWorkflowFailed,
    ChildWorkflowRetryPolicy,
    Client,
    ContinueAsNew,
    NonRetryableError,
    Worker,
    WorkflowAlreadyStarted,
    WorkflowFailed,
    WorkflowNotFound,
    activity,
    workflow,
)
from durable_workflow.workflow import CompleteWorkflow, FailWorkflow  # noqa: E402

TRIES: dict[str, int] = {}


wait = asyncio.run  # an async call, run to its end from a test


@pytest.fixture
def vclient(vclient: pw.SyncClient) -> Iterator[pw.SyncClient]:
    """The engine on its own thread before the short-lived loops of ``wait`` call into it,
    and a worker serving the "default" task queue."""
    runtime.ensure()
    TRIES.clear()
    with serving("default"):
        yield vclient


@contextlib.contextmanager
def serving(queue: str) -> Iterator[Worker]:
    """A worker of ``queue`` for the block (workflows and activities on it run)."""
    worker = Worker(Client(), task_queue=queue)
    try:
        yield worker
    finally:
        wait(worker.stop())


# -- the user guide's examples ---------------------------------------------------------------

@activity.defn(name="greet")
async def greet(name: str) -> dict:
    return {"greeting": f"Hello, {name}!", "length": len(name)}


@workflow.defn(name="dw-greeter")
class GreeterWorkflow:
    def run(self, ctx, *args):
        result = yield ctx.schedule_activity("greet", list(args))
        return result


@activity.defn(name="validate_order")
async def validate_order(order: dict) -> dict:
    return {**order, "valid": True}


@activity.defn(name="process_payment")
def process_payment(order: dict) -> dict:
    return {"paid": order["amount"], "valid": order["valid"]}


@workflow.defn(name="dw-order-processing")
class OrderWorkflow:
    def run(self, ctx, *args):
        order = args[0] if args else {}
        validated = yield ctx.schedule_activity("validate_order", [order])
        yield ctx.start_timer(seconds=60)
        receipt = yield ctx.schedule_activity("process_payment", [validated])
        return receipt


@activity.defn(name="process_item")
async def process_item(item: int) -> int:
    return item * item


@workflow.defn(name="dw-fan-out-example")
class FanOutWorkflow:
    def run(self, ctx, *args):
        items = args[0]
        results = yield [ctx.schedule_activity("process_item", [item]) for item in items]
        return results


def test_the_quickstart_runs_with_no_server(vstore: Path) -> None:
    runtime.ensure()

    async def main() -> Any:
        async with Client("http://localhost:8080") as client:
            handle = await client.start_workflow(workflow_type="dw-greeter", task_queue="default",
                                                 workflow_id="greeting-1", input=["world"])
            worker = Worker(client, task_queue="default", workflows=[GreeterWorkflow],
                            activities=[greet])
            await worker.run_until(workflow_id="greeting-1", timeout=30.0)
            result = await handle.result(timeout=10.0)
            await worker.stop()  # (not in the guide: the next tests start with no worker)
            return result

    assert wait(main()) == {"greeting": "Hello, world!", "length": 5}
    assert pw.sql("SELECT step_id, status FROM steps WHERE run_id = 'greeting-1'").fetchall() \
        == [("greet#1", "completed")]
    assert pw.sql("SELECT event, status FROM waits WHERE run_id = 'greeting-1'").fetchall() \
        == [("task queue default", "received")], "started before its worker: it waited for it"


@activity.defn(name="where")
async def where() -> str:
    return activity.context().info.task_queue


@workflow.defn(name="dw-queued")
class QueuedWorkflow:
    def run(self, ctx, queue=None, timeout=None):
        here = yield ctx.schedule_activity("where", [], queue=queue,
                                           schedule_to_start_timeout=timeout)
        return here


def test_a_run_on_a_queue_no_worker_serves_waits_visibly_until_one_does(
        vclient: pw.SyncClient) -> None:
    client = Client()
    handle = wait(client.start_workflow("dw-queued", task_queue="orders", workflow_id="q-1"))
    wait_status(vclient.get_run("q-1"), "waiting")
    assert wait(handle.describe()).status == "running"
    assert pw.sql("SELECT event, status FROM waits WHERE run_id = 'q-1'").fetchall() == [
        ("task queue orders", "waiting")]
    assert pw.sql("SELECT count(*) FROM steps WHERE run_id = 'q-1'").fetchall() == [(0,)]
    with serving("orders") as worker:
        assert wait(handle.result(timeout=10)) == "orders", "the activity's info names its queue"
    [(received,)] = pw.sql("SELECT payload FROM waits WHERE run_id = 'q-1'").fetchall()
    assert worker.worker_id in received, "the wait records which worker came"

    stopped = wait(client.start_workflow("dw-queued", task_queue="orders", workflow_id="q-2"))
    wait_status(vclient.get_run("q-2"), "waiting")  # its worker stopped: it waits again
    with serving("orders"):
        assert wait(stopped.result(timeout=10)) == "orders"


def test_an_activity_waits_for_its_queue_within_its_schedule_to_start_timeout(
        vclient: pw.SyncClient) -> None:
    client = Client()
    late = wait(client.start_workflow("dw-queued", workflow_id="gpu-1", input=["gpu", 30]))
    wait_status(vclient.get_run("gpu-1"), "waiting")
    vclient.skip("31s")
    with pytest.raises(WorkflowFailed, match=r"activity 'where' waited 30 s for a worker on "
                                             r"task queue 'gpu'"):
        wait(late.result(timeout=10))

    in_time = wait(client.start_workflow("dw-queued", workflow_id="gpu-2", input=["gpu", 30]))
    wait_status(vclient.get_run("gpu-2"), "waiting")
    vclient.skip("20s")
    with serving("gpu"):
        assert wait(in_time.result(timeout=10)) == "gpu"
    with serving("gpu"):  # served when scheduled: no wait at all
        wait(wait(client.start_workflow("dw-queued", workflow_id="gpu-3",
                                        input=["gpu", 30])).result(timeout=10))
    assert pw.sql("SELECT count(*) FROM waits WHERE run_id = 'gpu-3'").fetchall() == [(0,)]


def test_a_run_waiting_for_its_queue_goes_on_after_a_restart_once_a_worker_serves_it(
        vstore: Path) -> None:
    runtime.ensure()
    wait(Client().start_workflow("dw-queued", task_queue="late", workflow_id="late-1"))
    client = pw.SyncClient()
    wait_status(client.get_run("late-1"), "waiting")
    pw.shutdown()
    pw.configure(store=str(vstore))
    client.recover()
    assert client.get_run("late-1").status() == "waiting"
    with serving("late"):
        assert client.get_run("late-1").result(timeout=10) == "late"


def test_timers_skip_with_the_virtual_clock_and_lists_fan_out_in_order(
        vclient: pw.SyncClient) -> None:
    client = Client()
    handle = wait(client.start_workflow("dw-order-processing", workflow_id="order-1",
                                        input=[{"amount": 30}]))
    vclient.skip_until_idle()
    assert wait(handle.result(timeout=10)) == {"paid": 30, "valid": True}
    assert pw.sql("SELECT timer_id, status FROM timers WHERE run_id = 'order-1'").fetchall() \
        == [("sleep#1", "fired")]
    fan = wait(client.start_workflow("dw-fan-out-example", input=[[3, 1, 2]]))
    assert wait(fan.result(timeout=10)) == [9, 1, 4]
    execution = wait(fan.describe())
    assert execution.status == "completed" and execution.workflow_type == "dw-fan-out-example"


# -- retries, failures and how a workflow ends ---------------------------------------------------

class ValidationError(Exception):
    pass


@activity.defn(name="flaky")
def flaky(key: str) -> str:
    TRIES[key] = TRIES.get(key, 0) + 1
    if key == "invalid":
        raise ValidationError("bad order")
    if key == "refused":
        raise NonRetryableError("never")
    if TRIES[key] < 3:
        raise ConnectionError("not yet")
    return f"{key} after {TRIES[key]}"


@workflow.defn(name="dw-retrying")
class RetryingWorkflow:
    def run(self, ctx, key, retry):
        policy = ActivityRetryPolicy(max_attempts=4, initial_interval_seconds=1,
                                     backoff_coefficient=2,
                                     non_retryable_error_types=["ValidationError"])
        try:
            return (yield ctx.schedule_activity("flaky", [key],
                                                retry_policy=policy if retry else None))
        except Exception as exc:
            return f"caught {type(exc).__name__}: {exc}"


def test_a_retry_policy_sets_attempts_and_backoff_and_the_default_is_one_attempt(
        vclient: pw.SyncClient) -> None:
    client = Client()
    retried = wait(client.start_workflow("dw-retrying", workflow_id="r-1", input=["ok", True]))
    vclient.skip_until_idle()
    assert wait(retried.result(timeout=10)) == "ok after 3"
    waits = pw.sql("SELECT (data ->> 'retry_at')::DOUBLE - epoch(ts) FROM events WHERE "
                   "run_id = 'r-1' AND type = 'step.failed' ORDER BY seq").fetchall()
    assert [round(w) for (w,) in waits] == [1, 2]  # initial interval, then times 2
    once = wait(client.start_workflow("dw-retrying", workflow_id="r-2", input=["once", False]))
    assert wait(once.result(timeout=10)) == "caught ConnectionError: not yet"
    assert TRIES["once"] == 1
    for key, name in (("invalid", "ValidationError: bad order"),
                      ("refused", "NonRetryableError: never")):
        handle = wait(client.start_workflow("dw-retrying", input=[key, True]))
        assert wait(handle.result(timeout=10)) == f"caught {name}"
        assert TRIES[key] == 1, f"{key} was retried"


@workflow.defn(name="dw-ending")
class EndingWorkflow:
    def run(self, ctx, how, n=0):
        if how == "complete":
            yield CompleteWorkflow({"done": True})
            return "not reached"
        if how == "fail":
            yield FailWorkflow("order rejected", exception_type="Rejected")
        if n < 2:
            return ContinueAsNew(arguments=[how, n + 1])
        return f"continued {n} times"


def test_complete_fail_and_continue_as_new_end_a_run_as_documented(
        vclient: pw.SyncClient) -> None:
    client = Client()
    assert wait(wait(client.start_workflow("dw-ending", input=["complete"])).result(10)) == {
        "done": True}
    with pytest.raises(WorkflowFailed, match="order rejected"):
        wait(wait(client.start_workflow("dw-ending", input=["fail"])).result(10))
    chained = wait(client.start_workflow("dw-ending", workflow_id="chain-1", input=["loop"]))
    assert wait(chained.result(10)) == "continued 2 times"
    chain = [h.run_id for h in pw.run_chain("chain-1")]
    assert chain[0] == "chain-1" and len(chain) == 3


@workflow.defn(name="dw-slow")
class SlowWorkflow:
    def run(self, ctx, naps, again=0):
        for _ in range(naps):
            yield ctx.start_timer(60)
        if again:
            return ContinueAsNew(arguments=[naps, again - 1])
        return "done"


@workflow.defn(name="dw-slow-parent")
class SlowParentWorkflow:
    def run(self, ctx, child_timeout):
        try:
            yield ctx.start_child_workflow("dw-slow", [1], run_timeout_seconds=child_timeout)
        except ChildWorkflowFailed as exc:
            return f"child: {exc.__cause__}"
        return "child done"


def test_run_and_execution_timeouts_fail_a_workflow_that_runs_past_them(
        vclient: pw.SyncClient) -> None:
    client = Client()
    quick = wait(client.start_workflow("dw-slow", workflow_id="quick", input=[1],
                                       run_timeout_seconds=150))
    slow = wait(client.start_workflow("dw-slow", workflow_id="slow", input=[3],
                                      run_timeout_seconds=150))
    chained = wait(client.start_workflow("dw-slow", workflow_id="chained", input=[2, 2],
                                         execution_timeout_seconds=300,
                                         run_timeout_seconds=200))
    vclient.skip("10m")
    assert wait(quick.result(timeout=10)) == "done"
    assert pw.sql("SELECT status FROM timers WHERE run_id = 'quick' AND timer_id = "
                  "'run timeout#1'").fetchall() == [("cancelled",)], "the ended run's timer"
    with pytest.raises(WorkflowFailed, match=r"did not end within 150 s \(its "
                                             r"run_timeout_seconds\)"):
        wait(slow.result(timeout=10))
    assert pw.sql("SELECT count(*) FROM timers WHERE run_id = 'slow' AND status = 'fired' "
                  "AND timer_id LIKE 'sleep#%'").fetchall() == [(2,)], "stopped in its third nap"
    with pytest.raises(WorkflowFailed, match="its execution_timeout_seconds"):
        wait(chained.result(timeout=10))
    chain = [h.run_id for h in pw.run_chain("chained")]
    assert len(chain) == 3, "two runs of 120 s fit in 300 s; the third is cut at 300 s"
    replayer = dw.workflow.Replayer(workflows=[SlowWorkflow])
    for run_id in ("quick", "slow", chain[-1]):
        verdict = replayer.replay(run_id)
        assert verdict.ok, verdict.detail

    parent = wait(client.start_workflow("dw-slow-parent", input=[30]))
    vclient.skip("2m")
    assert "within 30 s (its run_timeout_seconds)" in wait(parent.result(timeout=10))
    with pytest.raises(pw.InvalidInput, match=r"run_timeout_seconds=...\) takes a positive"):
        wait(client.start_workflow("dw-slow", input=[1], run_timeout_seconds=0))


# -- determinism helpers, messages and versions ------------------------------------------------

@workflow.defn(name="dw-approval")
class ApprovalWorkflow:
    def __init__(self) -> None:
        self.approved_by: str | None = None
        self.notes: list[str] = []

    @workflow.signal("approve")
    def on_approve(self, by: str) -> None:
        self.approved_by = by

    @workflow.query("state")
    def state(self) -> dict:
        return {"approved_by": self.approved_by, "notes": self.notes}

    @workflow.update("note")
    def note(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)

    @note.validator
    def check_note(self, text: str) -> None:
        if not text:
            raise ValueError("a note needs text")

    def run(self, ctx, *args):
        token = yield ctx.side_effect(lambda: "tok-123")
        stamp = ctx.now().year
        pick = ctx.random().randint(1, 6)
        ids = (ctx.uuid4().version, ctx.uuid7().version)
        new_path = ctx.patched("approval-v2")
        approved = yield ctx.wait_condition(lambda: self.approved_by is not None,
                                            timeout=3600)
        return {"token": token, "year": stamp, "die": 1 <= pick <= 6, "uuid_versions": ids,
                "patched": new_path, "approved": approved, "by": self.approved_by}


def test_signals_queries_updates_and_the_replay_safe_helpers(vclient: pw.SyncClient) -> None:
    client = Client()
    handle = wait(client.start_workflow("dw-approval", workflow_id="approve-1"))
    vclient.get_run("approve-1")
    assert wait(client.update_workflow("approve-1", "note", ["looks fine"])) == 1
    with pytest.raises(pw.UpdateRejected):
        wait(client.update_workflow("approve-1", "note", [""]))
    assert wait(handle.query("state")) == {"approved_by": None, "notes": ["looks fine"]}
    wait(handle.signal("approve", ["ana"]))
    assert wait(handle.result(timeout=10)) == {
        "token": "tok-123", "year": 2025, "die": True, "uuid_versions": (4, 7),
        "patched": True, "approved": True, "by": "ana"}
    recorded = [r for (r,) in pw.sql("SELECT step FROM events WHERE run_id = 'approve-1' AND "
                                     "type = 'value.recorded' ORDER BY seq").fetchall()]
    assert recorded == ["task_queue#1", "side_effect#1", "now#1", "random_seed#1", "uuid4#1",
                        "uuid7#1"]
    verdict = pw.Replayer([ApprovalWorkflow]).replay("approve-1")
    assert verdict.ok, verdict.detail


@workflow.defn(name="dw-napper")
class NapperWorkflow:
    def run(self, ctx):
        yield ctx.sleep(59.2)  # rounded up to whole seconds: 60
        done = yield ctx.schedule_activity("greet", ["after the nap"])
        return done["greeting"]


def test_a_sleeping_run_survives_a_restart_of_the_engine(vstore: Path) -> None:
    runtime.ensure()
    worker = Worker(Client(), task_queue="default")
    wait(Client().start_workflow("dw-napper", workflow_id="nap-1"))
    client = pw.SyncClient()
    deadline = time.monotonic() + 10
    while client.get_run("nap-1").status() != "sleeping":
        assert time.monotonic() < deadline, "the run never reached its timer"
        time.sleep(0.002)
    pw.shutdown()
    pw.configure(store=str(vstore))
    client.recover()
    assert client.get_run("nap-1").status() == "sleeping"
    assert pw.sql("SELECT date_diff('second', started_at, fires_at) FROM timers WHERE "
                  "run_id = 'nap-1'").fetchall() == [(60,)]
    client.skip("1m")
    assert client.get_run("nap-1").result(timeout=10) == "Hello, after the nap!"
    wait(worker.stop())


def test_bad_calls_get_the_sdks_errors(vclient: pw.SyncClient) -> None:
    client = Client()
    wait(client.start_workflow("dw-greeter", workflow_id="dup-1", input=["a"]))
    with pytest.raises(WorkflowAlreadyStarted, match="dup-1"):
        wait(client.start_workflow("dw-greeter", workflow_id="dup-1", input=["b"]))
    with pytest.raises(WorkflowNotFound, match="no workflow type 'nope'"):
        wait(client.start_workflow("nope"))
    with pytest.raises(WorkflowNotFound):
        wait(client.get_workflow_handle("missing").describe())

    @workflow.defn(name="dw-unregistered-activity")
    class Lost:
        def run(self, ctx):
            return (yield ctx.schedule_activity("ghost", []))

    lost = wait(client.start_workflow("dw-unregistered-activity"))
    with pytest.raises(WorkflowFailed, match="no activity of type 'ghost' is registered"):
        wait(lost.result(timeout=10))
    with pytest.raises(pw.DefinitionError, match="run must be a generator"):
        @workflow.defn(name="dw-not-a-generator")
        class Plain:
            def run(self, ctx):
                return 1


def test_install_refuses_to_shadow_the_real_sdk(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "durable_workflow").mkdir()
    (tmp_path / "durable_workflow" / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "durable_workflow")
    with pytest.raises(pw.PyWorkflowError, match="the real durable_workflow SDK is importable"):
        dw.install()
    monkeypatch.undo()
    dw.install()  # ours again: a no-op
    assert sys.modules["durable_workflow"] is dw


# -- child workflows and the sync client -------------------------------------------------------

@activity.defn(name="dw-child-step")
def child_step(n: int) -> int:
    TRIES["child"] = TRIES.get("child", 0) + 1
    if n < 0 and TRIES["child"] < 2:
        raise ConnectionError("first child attempt fails")
    if n < 0 and n == -2:
        raise ValidationError("never valid")
    return n * 10


@workflow.defn(name="dw-child")
class ChildWorkflow:
    def run(self, ctx, n):
        return (yield ctx.schedule_activity("dw-child-step", [n]))


@workflow.defn(name="dw-parent")
class ParentWorkflow:
    def run(self, ctx, n):
        policy = ChildWorkflowRetryPolicy(max_attempts=3, initial_interval_seconds=2,
                                          non_retryable_error_types=["ValidationError"])
        try:
            value = yield ctx.start_child_workflow("dw-child", [n], retry_policy=policy,
                                                   parent_close_policy="terminate")
        except ChildWorkflowFailed as exc:
            return f"child failed: {type(exc.__cause__).__name__}"
        both = yield [ctx.start_child_workflow("dw-child", [1]),
                      ctx.start_child_workflow("dw-child", [2])]
        return [value, *both]


def test_child_workflows_retry_as_their_policy_says_and_fan_out(
        vclient: pw.SyncClient) -> None:
    client = Client()
    parent = wait(client.start_workflow("dw-parent", workflow_id="p-1", input=[3]))
    assert wait(parent.result(timeout=10)) == [30, 10, 20]
    children = pw.sql("SELECT run_id, status FROM runs WHERE parent_run_id = 'p-1' "
                      "ORDER BY run_id").fetchall()
    assert [s for _, s in children] == ["completed"] * 3
    retried = wait(client.start_workflow("dw-parent", workflow_id="p-2", input=[-1]))
    vclient.skip_until_idle()
    assert wait(retried.result(timeout=10)) == [-10, 10, 20]  # the second child run passed
    TRIES.clear()
    TRIES["child"] = 5  # past the first-attempt failure: this child fails for good
    given_up = wait(client.start_workflow("dw-parent", workflow_id="p-3", input=[-2]))
    assert wait(given_up.result(timeout=10)) == "child failed: ValidationError"
    assert pw.sql("SELECT count(*) FROM runs WHERE parent_run_id = 'p-3'").fetchall() == [(1,)]


def test_the_sync_client_mirrors_the_async_one(vclient: pw.SyncClient) -> None:
    from durable_workflow.sync import Client as SyncClient

    client = SyncClient("http://localhost:8080", token="secret")
    handle = client.start_workflow(workflow_type="dw-greeter", task_queue="default",
                                   workflow_id="sync-greeting-1", input=["world"])
    assert handle.result(timeout=10) == {"greeting": "Hello, world!", "length": 5}
    assert client.describe_workflow("sync-greeting-1").status == "completed"
    assert client.get_workflow_handle("sync-greeting-1").describe().workflow_type == \
        "dw-greeter"


# -- search attributes, listing, the Replayer, bad yields -------------------------------------

@workflow.defn(name="dw-tagged")
class TaggedWorkflow:
    def run(self, ctx, customer):
        yield ctx.upsert_search_attributes({"customer": customer, "tier": "gold"})
        greeting = yield ctx.schedule_activity("greet", [customer])
        yield ctx.upsert_search_attributes({"tier": "platinum"})
        return greeting["length"]


@workflow.defn(name="dw-confused")
class ConfusedWorkflow:
    def run(self, ctx):
        yield "not a command"


def test_search_attributes_are_stored_and_queryable_in_sql(vclient: pw.SyncClient) -> None:
    client = Client()
    wait(wait(client.start_workflow("dw-tagged", workflow_id="tag-1", input=["ana"])).result())
    rows = pw.sql("SELECT data -> 'value' FROM events WHERE run_id = 'tag-1' AND "
                  "step LIKE 'search_attributes#%' ORDER BY seq").fetchall()
    assert [__import__("json").loads(v) for (v,) in rows] == [
        {"customer": "ana", "tier": "gold"}, {"tier": "platinum"}]
    found = pw.sql("SELECT DISTINCT run_id FROM events WHERE step LIKE 'search_attributes#%' "
                   "AND data -> 'value' ->> 'customer' = 'ana'").fetchall()
    assert found == [("tag-1",)]


def test_list_workflows_the_replayer_and_a_yield_that_is_no_command(
        vclient: pw.SyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="durable_workflow.client"):
        client = Client("http://localhost:8080", token="secret")
    assert "no server is contacted (http://localhost:8080 is not used)" in caplog.text
    wait(wait(client.start_workflow("dw-tagged", workflow_id="tag-2", input=["bo"])).result())
    listed = wait(client.list_workflows(workflow_type="dw-tagged", status="completed"))
    assert [e.workflow_id for e in listed.executions] == ["tag-2"]
    from durable_workflow.workflow import Replayer

    assert Replayer(workflows=[TaggedWorkflow]).replay("tag-2")
    exported = pw.get_run("tag-2").events()
    assert Replayer(workflows=[TaggedWorkflow]).replay({"events": exported})

    @workflow.defn(name="dw-tagged")
    class TaggedWorkflowEdited:
        def run(self, ctx, customer):
            greeting = yield ctx.schedule_activity("greet", [customer])
            return greeting["length"]

    verdict = Replayer(workflows=[TaggedWorkflowEdited]).replay("tag-2")
    assert not verdict and "search_attributes#1" in verdict.detail
    workflow.defn(name="dw-tagged")(TaggedWorkflow)  # put the original back
    confused = wait(client.start_workflow("dw-confused"))
    with pytest.raises(WorkflowFailed, match="yielded 'not a command', which is not a command"):
        wait(confused.result(timeout=10))


# -- schedules ---------------------------------------------------------------------------------

def test_schedules_created_through_the_client_fire_trigger_backfill_and_change(
        vclient: pw.SyncClient) -> None:
    from durable_workflow import (
        ScheduleAction,
        ScheduleAlreadyExists,
        ScheduleNotFound,
        ScheduleSpec,
    )

    client = Client()
    spec = ScheduleSpec(cron_expressions=["0 * * * *", "30 9 * * *"])
    action = ScheduleAction(workflow_type="dw-greeter", task_queue="default", input=["sched"])
    handle = wait(client.create_schedule(schedule_id="hourly-report", spec=spec, action=action,
                                         overlap_policy="skip", jitter_seconds=0))
    with pytest.raises(ScheduleAlreadyExists, match="hourly-report"):
        wait(client.create_schedule(schedule_id="hourly-report", spec=spec, action=action))
    desc = wait(handle.describe())
    assert desc.fires_count == 0 and desc.status == "active"
    assert desc.next_fire_at is not None and desc.next_fire_at.minute == 0
    vclient.skip("1h")
    assert wait(handle.describe()).fires_count == 1
    wait(handle.pause(note="maintenance window"))
    assert wait(handle.describe()).status == "paused"
    wait(handle.resume(note="maintenance complete"))
    run = wait(handle.trigger())
    assert wait(run.result(timeout=10)) == {"greeting": "Hello, sched!", "length": 5}
    filled = wait(handle.backfill(start_time="2024-01-01T00:00:00Z",
                                  end_time="2024-01-01T02:00:00Z"))
    assert len(filled) == 3  # 00:00, 01:00, 02:00 (09:30 is outside the range)
    listed = wait(client.list_schedules())
    assert [s.schedule_id for s in listed.schedules] == ["hourly-report"]
    wait(handle.update(spec=ScheduleSpec(cron_expressions=["*/30 * * * *"]),
                       note="Changed to every 30 minutes"))
    assert wait(handle.describe()).next_fire_at.minute in (0, 30)
    assert pw.sql("SELECT count(*) FROM schedules").fetchall() == [(1,)]
    wait(handle.delete())
    with pytest.raises(ScheduleNotFound):
        wait(handle.describe())


def test_a_workflow_killed_midway_recovers_without_running_a_finished_activity_again(
        tmp_path: Path) -> None:
    crash = Crash(Path(__file__).with_name("durable_workflow_crash_worker.py"),
                  tmp_path / "dw.duckdb", tmp_path / "marks.txt")
    crash.kill_after(8)
    committed = {int(step.split("#")[1]) - 1 for step in crash.completed_steps("crash")}
    assert committed and len(committed) < 30, committed
    assert f"result {sum(range(30))}" in crash.recover()
    marks = crash.marks()
    assert set(marks) == set(range(30))
    assert all(marks[i] == 1 for i in committed), "a committed activity ran again"
    assert sum(marks.values()) - 30 <= 1  # only the activity running at the kill may run twice


@activity.defn(name="dw-beating")
async def beating(stall: bool) -> dict:
    ctx = activity.context()
    for i in range(3):
        await ctx.heartbeat({"progress": i})
        await asyncio.sleep(10 if stall and ctx.info.attempt_number == 1 else 0.01)
    return {"attempt": ctx.info.attempt_number, "last": ctx.last_heartbeat}


@workflow.defn(name="dw-heartbeats")
class HeartbeatWorkflow:
    def run(self, ctx, stall):
        return (yield ctx.schedule_activity(
            "dw-beating", [stall], heartbeat_timeout=0.2,
            retry_policy=ActivityRetryPolicy(max_attempts=2, initial_interval_seconds=0)))


def test_a_heartbeat_timeout_fails_a_stalled_attempt_which_is_retried(
        vclient: pw.SyncClient) -> None:
    client = Client()
    steady = wait(client.start_workflow("dw-heartbeats", input=[False]))
    assert wait(steady.result(timeout=10)) == {"attempt": 1, "last": {"progress": 2}}
    stalled = wait(client.start_workflow("dw-heartbeats", workflow_id="hb-2", input=[True]))
    assert wait(stalled.result(timeout=10)) == {"attempt": 2, "last": {"progress": 2}}
    error = pw.sql("SELECT data -> 'error' ->> 'message' FROM events WHERE run_id = 'hb-2' "
                   "AND type = 'step.failed'").fetchall()
    assert error == [("activity dw-beating#1 sent no heartbeat for 0.2 s (its "
                      "heartbeat_timeout)",)]


def test_the_sdks_metrics_recorders_count_activity_and_workflow_tasks(
        vclient: pw.SyncClient) -> None:
    from durable_workflow import InMemoryMetrics, PrometheusMetrics
    from prometheus_client import CollectorRegistry

    memory, registry = InMemoryMetrics(), CollectorRegistry()
    client = Client(metrics=memory)
    workers = [Worker(client, task_queue="default", workflows=[RetryingWorkflow],
                      activities=[flaky]),
               Worker(client, task_queue="default", metrics=PrometheusMetrics(registry))]
    try:
        handle = wait(client.start_workflow("dw-retrying", workflow_id="m-1",
                                            input=["counted", True]))
        vclient.skip_until_idle()
        wait(workers[0].run_until(workflow_id="m-1", timeout=10))
        assert wait(handle.result(timeout=10)) == "counted after 3"
    finally:
        for worker in workers:
            wait(worker.stop())
    tasks = "durable_workflow_worker_tasks"
    assert memory.counter(tasks, task_kind="activity", outcome="failed") == 2
    assert memory.counter(tasks, task_kind="activity", outcome="completed") == 1
    assert memory.counter(tasks, task_kind="workflow", outcome="completed") == 1
    assert len(memory.values("durable_workflow_worker_task_duration_seconds")) == 3
    assert registry.get_sample_value(f"{tasks}_total", {
        "task_kind": "activity", "task_queue": "default", "outcome": "failed"}) == 2
