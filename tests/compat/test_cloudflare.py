"""Cloudflare Python Workflows code, run unchanged on the engine after install()."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from crashing import Crash

import pyworkflow_nb as pw
from pyworkflow_nb.compat import cloudflare
from pyworkflow_nb.runtime import runtime

cloudflare.install()

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint  # noqa: E402
from workers.workflows import NonRetryableError  # noqa: E402

CALLS: list[str] = []


wait = asyncio.run  # an async call, run to its end from a test


def until_status(instance: cloudflare.WorkflowInstance, status: str) -> None:
    deadline = time.monotonic() + 10
    while (now := wait(instance.status())["status"]) != status:
        assert time.monotonic() < deadline, f"instance {instance.id} stayed {now}"
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    CALLS.clear()
    yield


@pytest.fixture
def vclient(vclient: pw.SyncClient) -> pw.SyncClient:
    """The engine started on its own thread, as in a notebook, before the short-lived loops
    of ``wait`` call into it (started inside one, it would live and die with that loop)."""
    runtime.ensure()
    return vclient


class DagWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def fetch_a():
            CALLS.append("a")
            return 1

        @step.do("fetch b")
        async def fetch_b():
            CALLS.append("b")
            return 2

        @step.do(concurrent=True)
        async def combine(fetch_a, fetch_b):
            return fetch_a + fetch_b

        @step.do()
        async def total(combine, fetch_a):  # fetch_a ran for combine: its result is reused
            return combine * 10 + fetch_a

        return {"total": await total(), "payload": event["payload"],
                "instance": event["instanceId"], "workflow": event["workflowName"],
                "aware": event["timestamp"].tzinfo is not None}


class RetryWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("flaky", config={"retries": {"limit": 2, "delay": "10 seconds",
                                              "backoff": "linear"}})
        async def flaky(ctx):
            CALLS.append(f"attempt {ctx['attempt']}")
            if ctx["attempt"] < 3:
                raise ConnectionError("not yet")
            return ctx

        return await flaky()


class WaitingWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("wait a day", "1 day")
        await step.sleep_until("until noon", datetime(2025, 1, 2, 12, tzinfo=timezone.utc))
        approval = await step.wait_for_event("approval", "approved", timeout="1 hour")
        try:
            await step.wait_for_event("second approval", "approved-again", timeout="1 hour")
        except Exception as exc:
            late = type(exc).__name__
        return {"payload": approval["payload"], "type": approval["type"],
                "at": approval["timestamp"].isoformat(), "late": late}


class ErrorsWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        caught = []

        async def try_step(fn):
            try:
                return await fn()
            except Exception as e:
                caught.append(f"{type(e).__name__}: {e}")

        @step.do("my_failing", config={"retries": {"limit": 0}})
        async def my_failing():
            raise TypeError("Intentional error in my_failing")

        await try_step(my_failing)

        @step.do()
        async def refuse():
            CALLS.append("refuse")
            raise NonRetryableError("bad input, do not retry")

        await try_step(refuse)
        return caught


class GiveUpWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def refuse():
            raise NonRetryableError("no retry for this")

        return await refuse()


class BadConfigWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do(config={"retries": {"limit": 1, "delai": "1 second"}})
        async def typo():
            return 1

        return await typo()


def test_a_dag_of_implicit_dependencies_runs_each_step_once(vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(DAG=DagWorkflow)
    instance = wait(env.DAG.create(id="dag-1", params={"region": "eu"}))
    assert pw.SyncClient().get_run("dag-1").result(timeout=10) == {
        "total": 31, "payload": {"region": "eu"}, "instance": "dag-1",
        "workflow": "DagWorkflow", "aware": True}
    assert sorted(CALLS) == ["a", "b"]
    assert wait(instance.status()) == {"status": "complete", "output": {
        "total": 31, "payload": {"region": "eu"}, "instance": "dag-1",
        "workflow": "DagWorkflow", "aware": True}, "error": None}
    steps = pw.sql("SELECT step_id, attempts FROM steps WHERE run_id = 'dag-1' ORDER BY "
                   "started_at, step_id").fetchall()
    assert sorted(steps) == [("combine#1", 1), ("fetch b#1", 1), ("fetch_a#1", 1),
                             ("total#1", 1)]
    order = [(t, s) for t, s in pw.sql(
        "SELECT type, step FROM events WHERE run_id = 'dag-1' AND type LIKE 'step.%' "
        "ORDER BY seq").fetchall()]
    # concurrent=True: both dependencies start before either finishes
    assert order[:2] == [("step.started", "fetch_a#1"), ("step.started", "fetch b#1")]


def test_a_retry_config_sets_attempts_and_delays_and_ctx_holds_the_attempt(
        vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(RETRY=RetryWorkflow)
    wait(env.RETRY.create(id="retry-1"))
    h = pw.SyncClient().get_run("retry-1")
    pw.skip("10s")
    pw.skip("20s")
    ctx = h.result(timeout=10)
    assert ctx == {"step": {"name": "flaky", "count": 1}, "attempt": 3, "config": {
        "retries": {"limit": 2, "delay": "10 seconds", "backoff": "linear"},
        "timeout": "10 minutes"}}
    assert CALLS == ["attempt 1", "attempt 2", "attempt 3"]
    waits = pw.sql("SELECT (data ->> 'retry_at')::DOUBLE - epoch(ts) FROM events "
                   "WHERE run_id = 'retry-1' AND type = 'step.failed' ORDER BY seq").fetchall()
    assert [round(w) for (w,) in waits] == [10, 20]  # linear: delay, then 2 * delay


def test_sleeps_and_event_waits_keep_their_names_and_skip_with_the_virtual_clock(
        vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(WAITING=WaitingWorkflow)
    instance = wait(env.WAITING.create(id="wait-1"))
    h = pw.SyncClient().get_run("wait-1")
    pw.skip("1d")
    assert wait(instance.status())["status"] == "waiting"  # sleeping until noon
    pw.skip("12h")
    wait(instance.send_event(type="approved", payload={"by": "ana"}))
    pw.skip("2h")
    result = h.result(timeout=10)
    assert result == {"payload": {"by": "ana"}, "type": "approved",
                      "at": "2025-01-02T12:00:00+00:00", "late": "EventTimeout"}
    assert pw.sql("SELECT timer_id FROM timers WHERE run_id = 'wait-1' ORDER BY ALL"
                  ).fetchall() == [("until noon#1",), ("wait a day#1",)]
    assert pw.sql("SELECT wait_id, status FROM waits WHERE run_id = 'wait-1' ORDER BY ALL"
                  ).fetchall() == [("approval#1", "received"), ("second approval#1",
                                                                "timed_out")]


def test_errors_reach_the_top_level_and_non_retryable_stops_retries(
        vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(ERRORS=ErrorsWorkflow, GIVE_UP=GiveUpWorkflow)
    caught = wait(env.ERRORS.create(id="errors-1"))
    assert pw.SyncClient().get_run(caught.id).result(timeout=10) == [
        "TypeError: Intentional error in my_failing",
        "NonRetryableError: bad input, do not retry"]
    assert CALLS == ["refuse"]  # once: no retry after NonRetryableError
    failing = wait(env.GIVE_UP.create(id="give-up-1"))
    with pytest.raises(pw.WorkflowFailed):
        pw.SyncClient().get_run(failing.id).result(timeout=10)
    assert wait(failing.status()) == {"status": "errored", "output": None, "error": {
        "name": "NonRetryableError", "message": "no retry for this"}}


def test_a_malformed_config_names_its_key(vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(BAD=BadConfigWorkflow)
    instance = wait(env.BAD.create(id="bad-1"))
    with pytest.raises(pw.WorkflowFailed, match=r"config retries has unknown key\(s\) delai; it "
                                                r"takes limit, delay and backoff"):
        pw.SyncClient().get_run(instance.id).result(timeout=10)


def test_the_binding_creates_finds_pauses_resumes_terminates_and_restarts(
        vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(WAITING=WaitingWorkflow, NAME="plain values pass through")
    assert env.NAME == "plain values pass through"
    first, second = wait(env.WAITING.create_batch([{"id": "b-1"}, {"id": "b-2"}]))
    with pytest.raises(pw.InvalidInput, match="an instance with id 'b-1' already exists"):
        wait(env.WAITING.create(id="b-1"))
    with pytest.raises(pw.InvalidInput, match=r"create_batch repeats the instance id\(s\) x"):
        wait(env.WAITING.create_batch([{"id": "x"}, {"id": "x"}]))
    with pytest.raises(pw.RunNotFound):
        wait(env.WAITING.get("nope"))
    found = wait(env.WAITING.get("b-1"))
    until_status(found, "waiting")  # sleeping a day
    wait(found.pause())
    assert wait(found.status())["status"] == "paused"
    wait(found.resume())
    wait(second.terminate())
    assert wait(second.status())["status"] == "terminated"
    wait(second.restart())
    until_status(second, "waiting")
    assert isinstance(first, cloudflare.WorkflowInstance) and first.id == "b-1"


def test_a_worker_fetch_handler_starts_an_instance(vclient: pw.SyncClient) -> None:
    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            instance = await self.env.MY_WORKFLOW.create()
            return Response.json({"status": "success", "id": instance.id})

    response = wait(Default(env=cloudflare.Env(MY_WORKFLOW=DagWorkflow)).fetch(None))
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    started = __import__("json").loads(response.body)
    assert started["status"] == "success"
    assert pw.SyncClient().get_run(started["id"]).result(timeout=10)["total"] == 31


def test_install_refuses_to_shadow_a_real_workers_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "workers")
    with pytest.raises(pw.PyWorkflowError, match="a package named `workers` is already "
                                                 "importable"):
        cloudflare.install()
    monkeypatch.undo()
    assert sys.modules["workers"].WorkflowEntrypoint is WorkflowEntrypoint
    cloudflare.install()  # again: a no-op


def test_a_dag_killed_midway_recovers_without_running_a_finished_step_again(
        tmp_path: Path) -> None:
    crash = Crash(Path(__file__).with_name("cloudflare_crash_worker.py"),
                  tmp_path / "dag.duckdb", tmp_path / "marks.txt")
    crash.kill_after(8)
    committed = {int(step.split(" ")[1].split("#")[0]) for step in crash.completed_steps("dag")}
    assert committed and len(committed) < 20, committed
    assert f"result {sum(range(20))}" in crash.recover()
    marks = crash.marks()
    assert set(marks) == set(range(20))
    assert all(marks[i] == 1 for i in committed), "a step whose completion was committed ran again"


# -- the reference's own examples, as written there --------------------------------------------

class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def my_first_step():
            # do some work
            return "Hello World!"

        await my_first_step()


class CtxWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def read_context(ctx):
            print(ctx["step"]["name"])    # step name
            print(ctx["step"]["count"])   # step count
            print(ctx["attempt"])         # attempt number
            print(ctx["config"])          # resolved step config
            return ctx["attempt"]

        return await read_context()


class DemoWorkflowClass(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name', config={"retries": {"limit": 1, "delay": "10 seconds"}})
        async def first_step():
            # do some work
            pass

        await first_step()


def test_the_reference_examples_run_as_written(vclient: pw.SyncClient,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    env = cloudflare.Env(A=MyWorkflow, B=CtxWorkflow, C=DemoWorkflowClass)
    runs = [wait(binding.create()) for binding in (env.A, env.B, env.C)]
    results = [pw.SyncClient().get_run(r.id).result(timeout=10) for r in runs]
    assert results == [None, 1, None]
    assert pw.sql("SELECT result FROM steps WHERE step_id = 'my_first_step#1'").fetchall() == [
        ('"Hello World!"',)]
    printed = capfd.readouterr().out
    assert "read_context\n1\n1\n{'retries': {'limit': 5, 'delay': 10000, 'backoff': " \
           "'exponential'}, 'timeout': '10 minutes'}" in printed
    assert pw.sql("SELECT count(*) FROM steps WHERE step_id = 'step-name#1'").fetchall() == [
        (1,)]


class BigResultWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def big():
            return "x" * (2 ** 20 + 1)

        await step.sleep("a long nap", "400 days")
        return len(await big())


def test_what_cloudflare_would_refuse_is_warned_about_and_still_runs_here(
        vclient: pw.SyncClient, caplog: pytest.LogCaptureFixture) -> None:
    env = cloudflare.Env(BIG=BigResultWorkflow)
    with caplog.at_level("WARNING", logger="pyworkflow_nb.cloudflare"):
        instance = wait(env.BIG.create(id="big-1"))
        pw.skip("400d")
        assert pw.SyncClient().get_run(instance.id).result(timeout=10) == 2 ** 20 + 1
        wait(env.BIG.create(id="big-2"))
        wait(wait(env.BIG.get("big-2")).send_event(type="x", payload="y" * 2 ** 20))
    assert "step.sleep('a long nap') sleeps 400 d: on Cloudflare a sleep is at most 365 days" \
        in caplog.text
    assert "the result of step big#1 is 1048579 bytes as stored here: on Cloudflare it would " \
           "be refused (the limit is 1 MiB, 1048576 bytes)" in caplog.text
    assert "the payload of event 'x' is 1048578 bytes" in caplog.text


def test_runs_in_flight_replay_against_the_redefined_class_and_report_a_divergence(
        store: Path) -> None:
    def define(step_name: str) -> type:
        class Evolving(WorkflowEntrypoint):
            async def run(self, event, step):
                @step.do(step_name)
                async def work():
                    return 1

                await work()
                return await step.wait_for_event("go", "go")

        return Evolving

    env = cloudflare.Env(EVOLVING=define("first"))
    runtime.ensure()
    instance = wait(env.EVOLVING.create(id="evolving-1"))
    until_status(instance, "waiting")
    pw.shutdown()
    cloudflare.Env(EVOLVING=define("renamed"))  # the cell, edited and run again
    pw.configure(store=str(store))
    with pytest.raises(pw.WorkflowFailed, match="NonDeterminismError") as failed:
        pw.SyncClient().get_run("evolving-1").result(timeout=10)
    assert "step first#1" in str(failed.value) and "step renamed#1" in str(failed.value)


def test_the_replayer_checks_a_class_against_its_recorded_runs(vclient: pw.SyncClient) -> None:
    env = cloudflare.Env(DAG=DagWorkflow)
    wait(env.DAG.create(id="dag-replayed"))
    pw.SyncClient().get_run("dag-replayed").result(timeout=10)
    verdict = pw.Replayer([DagWorkflow]).replay("dag-replayed")
    assert verdict.ok, verdict.detail
