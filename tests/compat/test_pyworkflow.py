"""pyworkflow-engine code on this engine: its decorators, sleep, start and run/event reads,
configuration and errors, as its documentation describes them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from crashing import Crash

import pyworkflow_nb as pw
from pyworkflow_nb.compat import pyworkflow as compat
from pyworkflow_nb.runtime import Config, runtime

compat.install()

from pydantic import BaseModel, ValidationError  # noqa: E402
from pyworkflow import (  # noqa: E402
    CalendarSpec,
    CancellationError,
    ChildWorkflowFailedError,
    FatalError,
    HookAlreadyReceivedError,
    HookExpiredError,
    HookNotFoundError,
    InvalidTokenError,
    OverlapPolicy,
    RetryableError,
    RunStatus,
    ScheduleNotFoundError,
    ScheduleSpec,
    ScheduleStatus,
    Step,
    Workflow,
    activate_scheduled_workflows,
    backfill_schedule,
    cancel_workflow,
    configure,
    continue_as_new,
    create_schedule,
    define_hook,
    delete_schedule,
    get_config,
    get_schedule,
    get_workflow_chain,
    get_workflow_events,
    get_workflow_run,
    get_workflow_run_by_idempotency_key,
    hook,
    list_schedules,
    pause_schedule,
    reset_config,
    resume,
    resume_hook,
    resume_schedule,
    scheduled_workflow,
    shield,
    sleep,
    start,
    start_child_workflow,
    step,
    trigger_schedule,
    update_schedule,
    workflow,
)
from pyworkflow.storage import (  # noqa: E402
    FileStorageBackend,
    InMemoryStorageBackend,
    SQLiteStorageBackend,
)

CALLS: dict[str, int] = {}


wait = asyncio.run  # an async call, run to its end from a test


@pytest.fixture
def vclient(vclient: pw.SyncClient) -> pw.SyncClient:
    """The engine on its own thread before the short-lived loops of ``wait`` call into it."""
    runtime.ensure()
    CALLS.clear()
    return vclient


@step()
async def send_welcome_email(user_id: str) -> str:
    return f"Email sent to {user_id}"


@step()
async def send_tips_email(user_id: str) -> str:
    return f"Tips sent to {user_id}"


@workflow()
async def onboarding_workflow(user_id: str) -> str:
    await send_welcome_email(user_id)
    await sleep("1d")
    await send_tips_email(user_id)
    return "Onboarding complete"


def test_start_returns_once_the_run_suspends_and_a_sleep_wakes_without_celery_beat(
        vclient: pw.SyncClient) -> None:
    run_id = wait(start(onboarding_workflow, user_id="user_123"))
    run = wait(get_workflow_run(run_id))
    assert run is not None and run.status is RunStatus.SUSPENDED
    assert run.workflow_name == "onboarding_workflow" and run.result is None
    assert json.loads(run.input_kwargs) == {"user_id": "user_123"}
    assert wait(resume(run_id)) is None, "still asleep: suspended again"
    with pytest.raises(compat.WorkflowNotFoundError):
        wait(resume("no-such-run"))
    vclient.skip("1d")
    assert wait(resume(run_id)) == "Onboarding complete"
    assert vclient.get_run(run_id).result(timeout=10) == "Onboarding complete"
    run = wait(get_workflow_run(run_id))
    assert run is not None and run.status is RunStatus.COMPLETED
    assert json.loads(run.result or "null") == "Onboarding complete"
    assert run.completed_at is not None and run.completed_at - run.created_at >= timedelta(
        days=1)
    events = wait(get_workflow_events(run_id))
    assert [e.type.value for e in events] == [
        "workflow_started", "step_started", "step_completed", "sleep_started",
        "sleep_completed", "step_started", "step_completed", "workflow_completed"]
    assert [e.data["step_name"] for e in events if e.type.value == "step_completed"] == [
        "send_welcome_email", "send_tips_email"]
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    assert all(e.timestamp.tzinfo is not None for e in events)
    assert wait(get_workflow_run("no-such-run")) is None


@step(max_retries=3, retry_delay="30s")
async def flaky_fixed() -> int:
    CALLS["fixed"] = CALLS.get("fixed", 0) + 1
    if CALLS["fixed"] < 3:
        raise ConnectionError("upstream down")
    return CALLS["fixed"]


@step(max_retries=3)
async def rate_limited() -> str:
    CALLS["limited"] = CALLS.get("limited", 0) + 1
    if CALLS["limited"] == 1:
        raise RetryableError("Rate limited", retry_after="90s")
    return "ok"


@step()
async def validate_input(data: dict) -> dict:
    CALLS["validate"] = CALLS.get("validate", 0) + 1
    if "email" not in data:
        raise FatalError("Email is required")
    return data


@workflow
async def retrying() -> list:
    return [await flaky_fixed(), await rate_limited()]


@workflow
async def validating(data: dict) -> dict:
    return await validate_input(data)


def test_steps_retry_as_configured_and_fatal_errors_stop_at_once(
        vclient: pw.SyncClient) -> None:
    run_id = wait(start(retrying))
    vclient.skip("5m")
    assert vclient.get_run(run_id).result(timeout=10) == [3, "ok"]
    gaps = pw.sql("SELECT step_id, attempts FROM steps WHERE run_id = ? ORDER BY step_id",
                  params=[run_id]).fetchall()
    assert gaps == [("flaky_fixed#1", 3), ("rate_limited#1", 2)]
    retries = [e for e in wait(get_workflow_events(run_id)) if e.type.value == "step_retrying"]
    waits = [e.data["retry_at"] - e.timestamp.timestamp() for e in retries]
    assert [round(w) for w in waits] == [30, 30, 90], "fixed 30 s, then the error's 90 s"

    failed = wait(start(validating, {"name": "ana"}))
    run = wait(get_workflow_run(failed))
    assert run is not None and run.status is RunStatus.FAILED
    assert run.error is not None and "Email is required" in run.error
    assert CALLS["validate"] == 1, "a FatalError is not retried"
    assert issubclass(FatalError, compat.WorkflowError) and FatalError("x").message == "x"
    assert issubclass(compat.EventLimitExceededError, FatalError)
    assert compat.WorkflowTimeoutError("r1", "1h").max_duration == "1h"
    assert compat.MaxNestingDepthError(4).max_depth == 3
    assert RetryableError("later", retry_after="2m").get_retry_delay_seconds() == 120


@step(max_retries=0)
async def shaky() -> int:
    CALLS["shaky"] = CALLS.get("shaky", 0) + 1
    if CALLS["shaky"] < 3:
        raise ConnectionError("down")
    return CALLS["shaky"]


@step()
async def fetch_orders(user_id: str) -> list:
    return [f"{user_id}-1", f"{user_id}-2"]


@step()
async def fetch_preferences(user_id: str) -> dict:
    return {"theme": "dark"}


@workflow(max_retries=2)
async def retried_whole(user_id: str) -> dict:
    attempt = await shaky()
    orders, preferences = await asyncio.gather(fetch_orders(user_id),
                                               fetch_preferences(user_id))
    return {"attempt": attempt, "orders": orders, "preferences": preferences}


@workflow(max_retries=3)
async def refused_whole() -> None:
    CALLS["refused"] = CALLS.get("refused", 0) + 1
    raise FatalError("no")


def test_a_workflow_runs_again_up_to_its_max_retries_and_steps_run_in_parallel(
        vclient: pw.SyncClient) -> None:
    run_id = wait(start(retried_whole, "u7"))
    assert vclient.get_run(run_id).result(timeout=10) == {
        "attempt": 3, "orders": ["u7-1", "u7-2"], "preferences": {"theme": "dark"}}
    assert pw.sql("SELECT step_id, status FROM steps WHERE run_id = ? AND name = 'shaky' "
                  "ORDER BY step_id", params=[run_id]).fetchall() == [
        ("shaky#1", "failed"), ("shaky#2", "failed"), ("shaky#3", "completed")]
    refused = wait(start(refused_whole))
    assert wait(get_workflow_run(refused)).status is RunStatus.FAILED  # type: ignore[union-attr]
    assert CALLS["refused"] == 1, "a FatalError is not retried"
    with pytest.raises(pw.InvalidInput, match="max_retries"):
        workflow(max_retries=-1)


class FetchUserStep(Step):
    name = "fetch_user_data"
    max_retries = 5

    async def execute(self, user_id: str) -> dict:
        return {"id": user_id, "name": "Alice"}


class GreetingWorkflow(Workflow):
    name = "greeting"

    async def run(self, user_id: str) -> str:
        user = await FetchUserStep()(user_id)
        await sleep(timedelta(hours=2, minutes=30))
        await sleep(datetime(2025, 1, 2, tzinfo=timezone.utc))
        await sleep(300)
        await sleep("1h30m")
        return f"hello {user['name']}"


def test_class_forms_idempotency_and_every_sleep_form(vclient: pw.SyncClient) -> None:
    first = wait(start(GreetingWorkflow, "u1", idempotency_key="greet-u1"))
    again = wait(start(GreetingWorkflow, "u1", idempotency_key="greet-u1"))
    assert first == again, "the same idempotency key returns the same run"
    vclient.skip("2d")
    assert vclient.get_run(first).result(timeout=10) == "hello Alice"
    assert pw.sql("SELECT step_id FROM steps WHERE run_id = ?",
                  params=[first]).fetchall() == [("fetch_user_data#1",)]
    fires = [row[0] for row in pw.sql(
        "SELECT epoch(fires_at)::BIGINT FROM timers WHERE run_id = ? ORDER BY timer_id",
        params=[first]).fetchall()]
    start_at = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    day2 = datetime(2025, 1, 2, tzinfo=timezone.utc).timestamp()
    assert fires == [start_at + 9000, day2, day2 + 300, day2 + 300 + 5400]


def test_configure_maps_each_storage_backend_to_a_duckdb_store(
        vstore: Path, tmp_path: Path) -> None:
    configure(storage=FileStorageBackend(base_path=str(tmp_path / "data")))
    assert runtime.config.store_path() == str(tmp_path / "data" / "pyworkflow.duckdb")
    run_id = wait(start(validating, {"email": "a@b"}))
    assert (tmp_path / "data" / "pyworkflow.duckdb").exists()
    configure(storage=SQLiteStorageBackend(db_path=str(tmp_path / "wf.db")))
    assert runtime.config.store_path() == str(tmp_path / "wf.duckdb")
    assert wait(get_workflow_run(run_id)) is None, "another store"
    configure(storage=FileStorageBackend(base_path=str(tmp_path / "data")))
    assert wait(get_workflow_run(run_id)) is not None, "back: the run was kept"
    reset_config()
    configure(storage=InMemoryStorageBackend(), default_durable=True)
    assert runtime.config.store_path() == ":memory:"
    assert get_config().default_durable is True
    assert isinstance(get_config().storage, InMemoryStorageBackend)
    with pytest.raises(pw.InvalidInput, match=r"unknown option.*celery_broker"):
        configure(celery_broker="redis://")
    with pytest.raises(pw.InvalidInput, match="takes a storage backend"):
        configure(storage="memory")  # type: ignore[arg-type]
    pw.shutdown()


class ApprovalPayload(BaseModel):
    approved: bool
    reviewer: str
    comments: str | None = None


approval_hook = define_hook("manager_approval", ApprovalPayload)
created_tokens: list[str] = []


@step()
async def prepare_order(order_id: str) -> dict:
    return {"order_id": order_id}


@workflow()
async def approval_workflow(order_id: str) -> dict:
    order = await prepare_order(order_id)

    async def on_hook_created(token: str) -> None:
        created_tokens.append(token)

    approval: ApprovalPayload = await approval_hook(timeout="7d", on_created=on_hook_created)
    note = await hook("note", timeout="1h")
    return {**order, "approved": approval.approved, "by": approval.reviewer, "note": note}


def test_hooks_wait_for_their_token_validate_typed_payloads_and_expire(
        vclient: pw.SyncClient) -> None:
    created_tokens.clear()
    run_id = wait(start(approval_workflow, "ORD-1"))
    assert wait(get_workflow_run(run_id)).status is RunStatus.SUSPENDED  # type: ignore[union-attr]
    assert created_tokens == [f"{run_id}:hook_manager_approval_1"], "on_created got the token"
    with pytest.raises(ValidationError):
        wait(resume_hook(created_tokens[0], {"approved": "maybe"}))
    result = wait(resume_hook(created_tokens[0], {"approved": True, "reviewer": "ana"}))
    assert result.success and result.hook_id == "hook_manager_approval_1"
    with pytest.raises(HookAlreadyReceivedError):
        wait(resume_hook(created_tokens[0], {"approved": True, "reviewer": "bo"}))
    waits = pw.sql("SELECT event, status FROM waits WHERE run_id = ? ORDER BY started_at",
                   params=[run_id]).fetchall()
    assert waits[0] == ("hook_manager_approval_1", "received"), "a hook is a wait in SQL"
    wait(resume_hook(f"{run_id}:hook_note_1", "ship it"))
    assert vclient.get_run(run_id).result(timeout=10) == {
        "order_id": "ORD-1", "approved": True, "by": "ana", "note": "ship it"}
    assert created_tokens == [f"{run_id}:hook_manager_approval_1"], "not called again"
    kinds = [e.type.value for e in wait(get_workflow_events(run_id))]
    assert kinds.count("hook_created") == 2 and kinds.count("hook_received") == 2

    late = wait(start(approval_workflow, "ORD-2"))
    vclient.skip("8d")
    with pytest.raises(pw.WorkflowFailed) as failed:
        vclient.get_run(late).result(timeout=10)
    assert isinstance(failed.value.__cause__, HookExpiredError)
    with pytest.raises(HookExpiredError):
        wait(resume_hook(f"{late}:hook_manager_approval_1", {"approved": True,
                                                             "reviewer": "x"}))
    with pytest.raises(HookNotFoundError):
        wait(resume_hook(f"{late}:hook_other_1", {}))
    with pytest.raises(InvalidTokenError):
        wait(resume_hook("no-colon-here", {}))


def pyworkflow_nb_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "pyworkflow_nb", "--store", str(store), *args],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_the_cli_lists_pending_hooks_and_resumes_one_by_its_token(tmp_path: Path) -> None:
    store = tmp_path / "hooks.duckdb"
    pw.configure(store=str(store), durability="sync")
    created_tokens.clear()
    try:
        runtime.ensure()
        run_id = wait(start(approval_workflow, "ORD-9"))
    finally:
        pw.shutdown()
    token = f"{run_id}:hook_manager_approval_1"
    listed = json.loads(pyworkflow_nb_cli(store, "--json", "hooks").stdout)
    assert [(h["token"], h["name"], h["status"]) for h in listed] == [
        (token, "manager_approval", "pending")]
    resumed = pyworkflow_nb_cli(store, "hooks", "resume", token, "--payload",
                                '{"approved": true, "reviewer": "ana"}')
    assert resumed.stdout.strip() == f"resumed hook {token}", resumed.stderr
    again = pyworkflow_nb_cli(store, "hooks", "resume", token, "--payload", "{}")
    assert again.returncode == 1 and "no pending hook" in again.stderr
    bad = pyworkflow_nb_cli(store, "hooks", "resume", "nonsense")
    assert bad.returncode == 1 and "is not a hook token" in bad.stderr
    pw.configure(store=str(store))
    try:
        runtime.ensure()  # recovers the run: it takes the payload, then waits for its note
        deadline = time.monotonic() + 10
        while True:
            try:
                wait(resume_hook(f"{run_id}:hook_note_1", "ok"))
                break
            except HookNotFoundError:
                assert time.monotonic() < deadline, "the run never reached its second hook"
                time.sleep(0.01)
        assert pw.SyncClient().get_run(run_id).result(timeout=10)["by"] == "ana"
    finally:
        pw.shutdown()
        runtime.config = Config()
    received = pyworkflow_nb_cli(store, "hooks", "--status", "received").stdout
    assert token in received and "manager_approval" in received


@workflow()
async def child_task(n: int) -> int:
    if n < 0:
        raise FatalError("negative")
    await sleep("1m")
    return n * 10


@workflow()
async def parent_workflow(n: int) -> dict:
    waited = await start_child_workflow(child_task, n)
    handle = await start_child_workflow(child_task, n + 1, wait_for_completion=False)
    assert await handle.is_running()
    later = await handle.result()
    try:
        await start_child_workflow(child_task, -1)
    except ChildWorkflowFailedError as exc:
        failed = (exc.child_workflow_name, exc.error)
    return {"waited": waited, "later": later, "failed": failed}


@workflow()
async def countdown(n: int) -> str:
    await sleep("1h")
    if n > 0:
        continue_as_new(n - 1)
    return "liftoff"


CLEANED: list[str] = []


@workflow()
async def cancellable() -> str:
    try:
        await sleep("1d")
    except CancellationError as exc:
        CLEANED.append(f"released inventory: {exc.reason}")
        raise
    return "not reached"


GUARDED: list[str] = []


@workflow()
async def shielded_order() -> str:
    try:
        async with shield():
            await sleep("1h")
            GUARDED.append("charged")
        await sleep("1d")
    except CancellationError as exc:
        GUARDED.append(f"refunded: {exc.reason}")
        raise
    return "shipped"


def test_a_cancel_waits_for_a_shielded_block_to_end(vclient: pw.SyncClient) -> None:
    GUARDED.clear()
    run_id = wait(start(shielded_order))
    assert wait(cancel_workflow(run_id, reason="changed my mind")) is True
    assert vclient.get_run(run_id).status() == "sleeping", "the shielded sleep goes on"
    assert GUARDED == []
    vclient.skip("1h")
    with pytest.raises(pw.WorkflowCancelled):
        vclient.get_run(run_id).result(timeout=10)
    assert GUARDED == ["charged", "refunded: changed my mind"]
    verdict = pw.Replayer([shielded_order]).replay(run_id)
    assert verdict.ok, verdict.detail


def test_children_continue_as_new_and_cancellation(vclient: pw.SyncClient) -> None:
    parent = wait(start(parent_workflow, 2, idempotency_key="parent-2"))
    vclient.skip("5m")
    assert vclient.get_run(parent).result(timeout=10) == {
        "waited": 20, "later": 30, "failed": ("child_task", "negative")}
    found = wait(get_workflow_run_by_idempotency_key("parent-2"))
    assert found is not None and found.run_id == parent
    assert wait(get_workflow_run_by_idempotency_key("nope")) is None
    children = pw.sql("SELECT count(*) FROM runs WHERE parent_run_id = ?",
                      params=[parent]).fetchall()
    assert children == [(3,)]

    first = wait(start(countdown, 2))
    vclient.skip("4h")
    chain = wait(get_workflow_chain(first))
    assert [r.status for r in chain] == [RunStatus.CONTINUED_AS_NEW] * 2 + [RunStatus.COMPLETED]
    assert json.loads(chain[-1].result or "null") == "liftoff"

    CLEANED.clear()
    doomed = wait(start(cancellable))
    assert wait(cancel_workflow(doomed, reason="customer left", wait=True, timeout=10)) is True
    assert CLEANED == ["released inventory: customer left"], "caught, with the reason"
    assert wait(get_workflow_run(doomed)).status is RunStatus.CANCELLED  # type: ignore[union-attr]
    assert wait(cancel_workflow(doomed)) is False, "already ended"


@workflow()
async def hourly_report(region: str = "eu") -> str:
    return f"report {region}"


@scheduled_workflow(cron="0 9 * * *", name="morning_digest")
async def morning_digest() -> str:
    return "digest"


def test_schedules_fire_and_are_steered_as_pyworkflow_describes(
        vclient: pw.SyncClient) -> None:
    hourly = wait(create_schedule(hourly_report, ScheduleSpec(interval="1h"),
                                  schedule_id="hourly", args=["us"]))
    start_at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert hourly.status is ScheduleStatus.ACTIVE and hourly.workflow_name == "hourly_report"
    assert hourly.next_run_time == start_at + timedelta(hours=1)
    twice = wait(create_schedule("hourly_report", ScheduleSpec(calendar=[
        CalendarSpec(hour=9), CalendarSpec(hour=17, day_of_week=5)]), schedule_id="twice",
        overlap_policy=OverlapPolicy.BUFFER_ONE))
    assert twice.next_run_time == start_at + timedelta(hours=9)
    assert [sid for (sid,) in pw.sql("SELECT schedule_id FROM schedules ORDER BY 1")
            .fetchall()] == ["hourly", "twice", "twice~2"], "one engine schedule per entry"

    vclient.skip("3h")
    described = wait(get_schedule("hourly"))
    assert described is not None and described.total_runs == 3
    results = pw.sql("SELECT DISTINCT status FROM runs WHERE schedule_id = 'hourly'")
    assert results.fetchall() == [("completed",)]
    assert wait(pause_schedule("hourly")).status is ScheduleStatus.PAUSED
    vclient.skip("2h")
    assert wait(get_schedule("hourly")).total_runs == 3  # type: ignore[union-attr]
    assert wait(resume_schedule("hourly")).status is ScheduleStatus.ACTIVE
    run_id = wait(trigger_schedule("hourly"))
    assert vclient.get_run(run_id).result(timeout=10) == "report us"
    filled = wait(backfill_schedule("twice", datetime(2024, 12, 30, tzinfo=timezone.utc),
                                    datetime(2024, 12, 31, 23, 0, tzinfo=timezone.utc)))
    assert len(filled) == 2, "09:00 on both days (neither is a Friday)"
    changed = wait(update_schedule("hourly", spec=ScheduleSpec(interval="2h")))
    assert changed.spec.interval == "2h" and changed.overlap_policy is OverlapPolicy.SKIP
    assert sorted(s.schedule_id for s in wait(list_schedules(hourly_report))) == [
        "hourly", "twice"]
    assert [s.schedule_id for s in wait(list_schedules(status=ScheduleStatus.PAUSED))] == []
    wait(delete_schedule("twice"))
    assert wait(get_schedule("twice")) is None
    with pytest.raises(ScheduleNotFoundError):
        wait(pause_schedule("twice"))
    with pytest.raises(pw.InvalidInput, match="TERMINATE_OTHER is not available"):
        wait(create_schedule(hourly_report, ScheduleSpec(cron="* * * * *"),
                             overlap_policy=OverlapPolicy.TERMINATE_OTHER))
    with pytest.raises(pw.InvalidInput, match="needs cron=, interval= or calendar"):
        wait(create_schedule(hourly_report, ScheduleSpec()))

    assert wait(activate_scheduled_workflows()) == ["auto_morning_digest"]
    assert wait(activate_scheduled_workflows()) == [], "created once"
    digest = wait(get_schedule("auto_morning_digest"))
    assert digest is not None and digest.next_run_time is not None
    assert digest.next_run_time.hour == 9


def test_a_child_chain_a_sleep_and_a_waiting_hook_survive_kill_9(tmp_path: Path) -> None:
    crash = Crash(Path(__file__).with_name("pyworkflow_crash_worker.py"),
                  tmp_path / "pyworkflow.duckdb", tmp_path / "marks.txt")
    crash.kill_after(10)
    committed = {int(value) for (value,) in crash.sql(
        "SELECT data ->> 'result' FROM events WHERE type = 'step.completed'")}
    assert committed and len(committed) < 20, committed
    assert f"result {sum(range(20)) + 100}" in crash.recover()
    marks = crash.marks()
    assert set(marks) == set(range(20))
    assert all(marks[i] == 1 for i in committed), "a step whose completion was committed ran again"


def test_install_refuses_to_shadow_a_real_pyworkflow(tmp_path: Path) -> None:
    (tmp_path / "pyworkflow").mkdir()
    (tmp_path / "pyworkflow" / "__init__.py").write_text("")
    code = ("from pyworkflow_nb.compat import pyworkflow\n"
            "try:\n    pyworkflow.install()\nexcept Exception as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(tmp_path),
                                                     "PATH": "/usr/bin:/bin"})
    assert "will not shadow it" in out.stdout, out.stdout + out.stderr
