"""Steps as Celery tasks (pyworkflow_nb.celery): a real Redis server and real Celery workers.

The example in examples/celery runs as its README says; the engine keeps retries, timeouts and
durable timers (Celery runs one attempt per task and never retries one itself).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pg_processes import pg_value, until
from pg_server import fresh_database
from redis_server import redis
from servers import stop

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

celery = pytest.importorskip("celery", reason="pip install 'celery[redis]' (test extras)")
import pyworkflow_nb.celery as pw_celery  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "celery"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with redis() as url:
        yield url


def celery_worker(app: str, cwd: Path, broker: str, log: Path,
                  store: str | None = None) -> subprocess.Popen[Any]:
    """``celery -A app worker`` as a user starts it, once it is ready for tasks."""
    env = {**os.environ, "CELERY_BROKER_URL": broker, "PYTHONPATH": str(cwd),
           "PYWORKFLOW_NB_STORE": store or ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--concurrency", "2",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        until(lambda: "ready." in log.read_text() or proc.poll() is not None,
              "the Celery worker to start", timeout=90)
        assert proc.poll() is None, f"the Celery worker did not start:\n{log.read_text()}"
    except AssertionError:
        stop(proc)
        raise
    return proc


def test_the_example_runs_its_steps_in_celery_workers_with_retries_kept_by_the_history(
        tmp_path: Path, broker: str) -> None:
    log, tries = tmp_path / "worker.log", tmp_path / "tries.txt"
    worker = celery_worker("celery_app", EXAMPLE, broker, log)
    try:
        env = {**os.environ, "CELERY_BROKER_URL": broker,
               "PYWORKFLOW_NB_STORE": str(tmp_path / "store.duckdb")}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "start.py", str(tries)], cwd=EXAMPLE, env=env,
                              capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        pool = children(worker.pid)
    finally:
        stop(worker)
    assert done.returncode == 0, done.stderr + log.read_text()
    result = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert result["total"] == 1 + 4 + 9 + 16
    assert result["upload"] == "uploaded 30 on attempt 3"
    step_pids = set(result["step_pids"]) | {int(pid) for pid in tries.read_text().split()}
    assert step_pids and step_pids <= pool
    assert took >= 1 + 2 * 0.5  # the durable sleep and the two recorded retry delays

    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as db:
        uploads = db.execute(
            "SELECT type, attempt, data->>'retry_at' IS NOT NULL FROM events "
            "WHERE step = 'flaky_upload#1' AND type LIKE 'step.%' ORDER BY seq").fetchall()
    assert uploads == [("step.started", 1, False), ("step.failed", 1, True),
                       ("step.started", 2, False), ("step.failed", 2, True),
                       ("step.started", 3, False), ("step.completed", 3, False)]
    lines = log.read_text().splitlines()
    received = [line for line in lines if "Task pyworkflow_nb.step[" in line
                and line.endswith("received")]
    assert len(received) == 4 + 3  # one task an attempt: 4 measures, 3 uploads
    assert not [line for line in lines if "retry" in line.lower()]


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (a Celery worker's pool)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
        except OSError:  # not a process, or gone
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.add(int(proc.name))
    return found


@pytest.fixture(scope="module")
def test_app(broker: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Any, subprocess.Popen[Any]]]:
    """celery_test_app, imported here and served by a Celery worker: (module, worker)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CELERY_BROKER_URL", broker)
        import celery_test_app

        log = tmp_path_factory.mktemp("celery") / "worker.log"
        worker = celery_worker("celery_test_app", HERE, broker, log)
        try:
            yield celery_test_app, worker
        finally:
            stop(worker)


def test_the_engine_keeps_timeouts_and_errors_of_steps_that_celery_workers_run(
        store: Path, test_app: tuple[Any, subprocess.Popen[Any]],
        restore_definitions: None) -> None:
    tasks, worker = test_app
    pw_celery.use(tasks.app)

    @pw.workflow
    async def probe() -> dict[str, Any]:
        seen: dict[str, Any] = {"pid": await tasks.where()}
        try:
            await tasks.slow(5)
        except TimeoutError as exc:
            seen["slow"] = str(exc)
        try:
            await tasks.refuse("no such account")
        except pw.FatalError as exc:
            seen["refused"] = (str(exc), str(exc.__cause__))
        return seen

    seen = pw.run(probe)
    assert seen["pid"] in children(worker.pid)
    assert seen["slow"] == "step slow#1 attempt 2 timed out after 1 s"  # the engine's timeout
    message, remote = seen["refused"]
    assert message == "no such account"
    assert "celery_test_app.py" in remote and "raise pw.FatalError(why)" in remote
    events = pw.get_run(pw.list_runs(workflow="probe")[0].run_id).events()
    failed = [(e["step"], e["attempt"]) for e in events if e["type"] == "step.failed"]
    assert failed == [("slow#1", 1), ("slow#1", 2), ("refuse#1", 1)]  # FatalError: no retry


def test_a_step_whose_code_differs_from_the_workers_fails_with_what_to_do(
        store: Path, test_app: tuple[Any, subprocess.Popen[Any]],
        restore_definitions: None) -> None:
    tasks, _ = test_app

    @pw.step(name="where", max_retries=0)
    def edited_where() -> int:  # edited in the notebook, not yet in the workers
        return -1

    @pw.workflow
    async def ask() -> int:
        return await edited_where()

    pw_celery.use(tasks.app)
    with pytest.raises(pw.WorkflowFailed) as failed:
        pw.run(ask)
    assert (f"has version {tasks.where.version} of step 'where', the run called version "
            f"{edited_where.version}: restart the workers") in str(failed.value)


def test_a_broker_the_steps_cannot_answer_through_is_refused_without_its_password(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to broker=
    app = celery.Celery("elsewhere", broker="amqp://user:secret@rabbit:5672//")
    with pytest.raises(pw.InvalidInput, match="needs a Redis broker") as refused:
        pw_celery.use(app)
    assert "secret" not in str(refused.value) and "amqp://" in str(refused.value)
    with pytest.raises(pw.InvalidInput, match="needs a Redis broker"):
        pw_celery.install(app)
    redis_app = celery.Celery("here", broker="redis://127.0.0.1:1/0")
    with pytest.raises(pw.InvalidInput, match=r"must be a postgresql:// URL, got 'a\.duckdb'"):
        pw_celery.install(redis_app, store="a.duckdb")
    assert "pyworkflow_nb.step" not in redis_app.tasks  # nothing half-installed


def test_celery_workers_run_the_workflows_left_for_workers_and_hand_them_on_when_stopped(
        pg_server: str, test_app: tuple[Any, subprocess.Popen[Any]], broker: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks, other_worker = test_app
    url = fresh_database(pg_server)
    monkeypatch.chdir(tmp_path)
    pw.configure(store=url)
    try:
        first = celery_worker("celery_test_app", HERE, broker, tmp_path / "first.log", url)
        try:
            client = pw.SyncClient()
            handles = [client.start(tasks.tally, 3, executor="workers") for _ in range(4)]
            waiting = client.start(tasks.tally, 1, wait=True, executor="workers")
            results = [h.result(timeout=60) for h in handles]
            first_pool, any_pool = children(first.pid), children(other_worker.pid)
            until(lambda: waiting.status() == "waiting", "the waiting run to wait")
            assert pg_value(url, "SELECT count(*) FROM leases") == 1
        finally:
            stop(first)
        assert {r["host"] for r in results} <= first_pool  # bodies ran in the pool processes
        steps = set().union(*(r["steps"] for r in results))
        assert steps <= first_pool | any_pool  # steps: in any Celery worker of the broker
        until(lambda: pg_value(url, "SELECT count(*) FROM leases") == 0,
              "the stopped worker to give its lease up")

        second = celery_worker("celery_test_app", HERE, broker, tmp_path / "second.log", url)
        try:
            until(lambda: pg_value(url, "SELECT count(*) FROM leases") == 1,
                  "a process of the second worker to take the waiting run")
            waiting.send_event("go")
            result = waiting.result(timeout=60)
            assert result["host"] in first_pool  # recorded once, replayed in the second
            assert pg_value(url, "SELECT count(*) FROM events WHERE run_id = "
                            f"'{waiting.run_id}' AND type = 'step.completed'") == 1
        finally:
            stop(second)
    finally:
        pw.shutdown()
        runtime.config = Config()
