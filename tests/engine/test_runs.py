"""Runs and handles: start, get, list, SQL, idempotency, bad input, both clients."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import runtime


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pw.step
async def add(a: int, b: int) -> int:
    return a + b


@pw.workflow
async def adder(a: int, b: int = 1) -> int:
    return await add(a, b)


@pw.workflow
async def waiter() -> object:
    return await pw.wait_for_event("go")


def test_existing_run_id_returns_the_existing_run(client: pw.SyncClient) -> None:
    first = client.start(adder, 1, run_id="fixed")
    assert first.result() == 2
    with pytest.warns(pw.PyWorkflowWarning) as warned:
        again = client.start(adder, 5, run_id="fixed")
    assert again.run_id == "fixed" and again.result() == 2
    message = str(warned[0].message)
    assert "already exists with input" in message and '"args":[5]' in message
    assert "another run_id (in a notebook: another --id)" in message
    same = client.start(adder, 1, run_id="fixed")  # the same call: no warning
    assert same.result() == 2
    assert pw.sql("SELECT count(*) FROM runs WHERE run_id = 'fixed'").fetchall() == [(1,)]


def test_idempotency_key(client: pw.SyncClient) -> None:
    a = client.start(adder, 1, idempotency_key="order-7")
    with pytest.warns(pw.PyWorkflowWarning, match="already exists with input"):
        b = client.start(adder, 2, idempotency_key="order-7")
    assert a.run_id == b.run_id


def test_get_run_list_runs_and_sql(client: pw.SyncClient) -> None:
    handles = [client.start(adder, i) for i in range(3)]
    for h in handles:
        h.result()
    assert pw.get_run(handles[0].run_id).status() == "completed"
    listed = pw.list_runs(workflow=adder, status="completed", limit=2)
    assert len(listed) == 2
    assert {h.run_id for h in pw.list_runs(workflow="adder")} == {h.run_id for h in handles}
    rows = pw.sql("SELECT input -> 'args' ->> 0 AS a, result::VARCHAR::INTEGER AS r "
                  "FROM runs ORDER BY r").fetchall()  # one spelling both databases read
    assert rows == [("0", 1), ("1", 2), ("2", 3)]
    assert pw.sql("SELECT count(*) FROM events WHERE run_id = ?",
                  [handles[0].run_id]).fetchall() == [(4,)]


def test_unknown_run_and_workflow_are_clear_errors(client: pw.SyncClient) -> None:
    with pytest.raises(pw.RunNotFound, match="no run with id 'nope'"):
        pw.get_run("nope")
    with pytest.raises(pw.InvalidInput, match="no workflow named 'ghost'"):
        client.start("ghost")
    with pytest.raises(pw.InvalidInput, match=r"decorate the function with @pw\.workflow"):
        client.start(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(pw.InvalidInput, match="invalid result timeout"):
        client.start(adder, 1).result(timeout="soon")
    with pytest.raises(pw.InvalidInput, match="must not be negative"):
        client.start(adder, 1).result(timeout=-1)


def test_result_timeout_leaves_the_run_going(client: pw.SyncClient) -> None:
    handle = client.start(waiter)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)
    handle.send_event("go", "late")
    assert handle.result(timeout=5) == "late"


def test_send_event_to_finished_run_is_rejected(client: pw.SyncClient) -> None:
    handle = client.start(adder, 1)
    handle.result()
    with pytest.raises(pw.InvalidInput, match="is completed; events can only be sent"):
        handle.send_event("go")


def test_async_api_from_another_loop(store: object) -> None:
    async def main() -> tuple[int, str]:
        handle = await pw.start(adder, 20, b=22)
        return await handle.result(), handle.status()

    assert asyncio.run(main()) == (42, "completed")


def test_a_blocking_call_first_gives_the_engine_its_own_thread_even_inside_a_loop(
        store: object) -> None:
    def send_when_waiting(handle: pw.SyncRunHandle) -> None:
        while handle.status() != "waiting":
            time.sleep(0.001)
        handle.send_event("go", "from another thread")

    async def repl_line() -> object:
        # Like the `python -m asyncio` REPL: code runs on a loop, and blocks in a sync call.
        handle = pw.SyncClient().start(waiter)
        sender = threading.Thread(target=send_when_waiting, args=(handle,))
        sender.start()
        try:
            return handle.result(timeout=5)  # this loop waits; the engine's own goes on
        finally:
            sender.join()

    assert asyncio.run(repl_line()) == "from another thread"
    assert runtime.engine is not None and runtime.engine.loop.is_running()


def test_a_blocking_call_on_the_loop_the_engine_shares_is_refused_not_reentered(
        store: object) -> None:
    async def cell() -> None:
        background = await pw.start(waiter)  # async first: the engine shares this loop
        with pytest.raises(pw.InvalidInput, match=r"cannot run on the event loop the engine "
                                                  r"shares.*await handle.result"):
            pw.SyncClient().get_run(background.run_id).result(timeout=5)
        await background.send_event("go", "async")
        assert await background.result(timeout=5) == "async"

    asyncio.run(cell())


def test_steps_of_equal_names_in_definitions_are_replaced(client: pw.SyncClient) -> None:
    @pw.workflow(name="redefined")
    async def v1() -> str:
        return "v1"

    @pw.workflow(name="redefined")
    async def v2() -> str:
        return "v2"

    assert client.run("redefined") == "v2"
    versions = pw.sql("SELECT version FROM workflows WHERE name = 'redefined'").fetchall()
    assert {v for (v,) in versions} == {v1.version, v2.version}
    assert v1.version != v2.version


def test_bare_and_called_decorators() -> None:
    @pw.step
    def bare(x: int) -> int:
        return x

    @pw.step()
    def called(x: int) -> int:
        return x

    assert bare(1) == called(1) == 1
    assert bare.name == "bare" and called.policy.max_retries == 3
    with pytest.raises(pw.DefinitionError, match="needs an `async def`"):
        pw.workflow(lambda: None)
    with pytest.raises(pw.InvalidInput, match="max_retries must be an int"):
        pw.step(max_retries=-1)(lambda: None)
    with pytest.raises(pw.InvalidInput, match="invalid step 'f' retry_delay 'soonish'"):
        @pw.step(retry_delay="soonish")
        def f() -> None: ...
    with pytest.raises(pw.InvalidInput, match="timeout must not be negative"):
        @pw.step(timeout=-3)
        def g() -> None: ...


def test_relaxed_durability_runs_and_persists(store: object, tmp_path: object) -> None:
    pw.configure(durability="relaxed")
    started = time.perf_counter()
    results = [pw.run(adder, i) for i in range(20)]
    assert results == [i + 1 for i in range(20)]
    assert time.perf_counter() - started < 5
    pw.shutdown()
    pw.configure(durability="sync")
    assert pw.sql("SELECT count(*) FROM runs WHERE status = 'completed'").fetchall() == [(20,)]


def test_retry_delay_caps() -> None:
    long_fixed = pw.step(retry_delay="1h")(lambda: None)
    assert long_fixed.policy.delay(1) == 3600
    exponential = pw.step(retry_delay="exponential")(lambda: None)
    assert [exponential.policy.delay(n) for n in (1, 2, 3)] == [1, 2, 4]
    assert exponential.policy.delay(20) == 300
    capped = pw.step(retry_delay=["10s", "1h"], max_delay="1m")(lambda: None)
    assert [capped.policy.delay(n) for n in (1, 2, 3)] == [10, 60, 60]
