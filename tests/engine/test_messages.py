"""Signals, queries and wait_condition: live, across restarts, and replayed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from waiting import wait_status

import pyworkflow_nb as pw

done: list[str] = []


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    done.clear()





@pw.step
def msg_ship(items: list[str]) -> str:
    done.append("ship")
    return f"shipped {', '.join(items)}"


@pw.workflow
async def msg_cart(needed: int) -> str:
    items: list[str] = []
    pw.set_signal_handler("add", items.append)
    pw.set_query_handler("items", lambda: list(items))
    pw.set_query_handler("has", lambda item: item in items)
    if not await pw.wait_condition(lambda: len(items) >= needed, timeout="1h"):
        return f"gave up with {len(items)}"
    return await msg_ship(items)


def test_signals_reach_the_handler_and_a_condition_ends_the_wait(client: pw.SyncClient) -> None:
    handle = client.start(msg_cart, 2)
    wait_status(handle, "sleeping")  # the condition's timeout is a durable timer
    handle.signal("add", "apple")
    assert handle.query("items") == ["apple"]
    assert handle.query("has", "pear") is False
    handle.signal("add", "pear")
    assert handle.result(timeout=5) == "shipped apple, pear"
    received = [e for e in handle.events() if e["type"] == "signal.received"]
    assert [e["data"] for e in received] == [{"signal": "add", "args": ["apple"]},
                                             {"signal": "add", "args": ["pear"]}]
    assert handle.query("items") == ["apple", "pear"], "a finished run answers by replay"
    assert pw.Replayer([msg_cart]).replay(handle).ok


def test_a_condition_times_out_durably(vclient: pw.SyncClient) -> None:
    handle = vclient.start(msg_cart, 3)
    vclient.skip("1s")
    handle.signal("add", "apple")
    vclient.skip("2h")
    assert handle.result(timeout=5) == "gave up with 1"


def test_signals_sent_while_the_run_is_down_or_before_its_handler_are_kept(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(msg_cart, 3)
    wait_status(handle, "sleeping")
    handle.signal("add", "a")
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    client.recover()
    handle.signal("add", "b")
    assert handle.query("items") == ["a", "b"], "replayed, then the new one"
    handle.signal("add", "c")
    assert handle.result(timeout=5) == "shipped a, b, c"
    assert done == ["ship"]


@pw.workflow
async def msg_late_handler() -> list[str]:
    got: list[str] = []
    await pw.wait_for_event("ready")
    pw.set_signal_handler("note", got.append)  # signals sent before this wait for it
    await pw.wait_condition(lambda: len(got) == 2)
    return got


def test_signals_that_come_before_their_handler_wait_for_it(client: pw.SyncClient) -> None:
    handle = client.start(msg_late_handler)
    wait_status(handle, "waiting")
    handle.signal("note", "first")
    handle.signal("note", "second")
    handle.send_event("ready")
    assert handle.result(timeout=5) == ["first", "second"]


@pw.workflow
async def msg_async_handler() -> int:
    total = {"n": 0}

    async def add(n: int) -> None:
        await pw.sleep("1m")  # a handler may wait on durable things
        total["n"] += n

    pw.set_signal_handler("add", add)
    await pw.wait_condition(lambda: total["n"] >= 5)
    return total["n"]


def test_an_async_signal_handler_may_sleep(vclient: pw.SyncClient) -> None:
    handle = vclient.start(msg_async_handler)
    vclient.skip("1s")
    handle.signal("add", 2)
    handle.signal("add", 3)
    vclient.skip("2m")
    assert handle.result(timeout=5) == 5


@pw.workflow
async def msg_bad_handler() -> None:
    def explode(_: object) -> None:
        raise ValueError("handler broke")

    pw.set_signal_handler("boom", explode)
    await pw.wait_for_event("never")


def test_bad_signals_and_queries_say_what_is_wrong(client: pw.SyncClient) -> None:
    handle = client.start(msg_cart, 5)
    wait_status(handle, "sleeping")
    with pytest.raises(pw.InvalidInput, match="has no query 'total'; its queries: has, items"):
        handle.query("total")
    with pytest.raises(pw.SerializationError, match="the arguments of signal 'add'"):
        handle.signal("add", threading.Lock())
    with pytest.raises(pw.InvalidInput, match="a signal name must be a non-empty string"):
        handle.signal("")
    assert [e["type"] for e in handle.events()].count("signal.received") == 0
    handle.terminate()
    with pytest.raises(pw.InvalidInput, match=r"already ended \(terminated\)"):
        handle.signal("add", "x")

    bad = client.start(msg_bad_handler)
    wait_status(bad, "waiting")
    bad.signal("boom", 1)
    with pytest.raises(pw.WorkflowFailed) as failed:
        bad.result(timeout=5)
    assert str(failed.value.__cause__) == "handler broke"


# -- updates -----------------------------------------------------------------------------------

@pw.step
def msg_price(n: int) -> int:
    done.append(f"price{n}")
    return n * 10


@pw.workflow
async def msg_order() -> dict[str, int]:
    state = {"discount": 0, "total": 0}

    def check(percent: int) -> None:
        if not 0 < percent <= 50:
            raise ValueError(f"a discount must be 1-50 %, got {percent}")

    def set_discount(percent: int) -> int:
        state["discount"] = percent
        return 100 - percent

    async def add(n: int) -> int:
        if n < 0:
            raise ArithmeticError("negative item")
        state["total"] += await msg_price(n)
        return state["total"]

    pw.set_update_handler("discount", set_discount, validator=check)
    pw.set_update_handler("add", add)
    pw.set_query_handler("state", lambda: dict(state))
    await pw.wait_for_event("checkout")
    return state


def test_an_update_runs_its_handler_and_returns_its_value(client: pw.SyncClient) -> None:
    handle = client.start(msg_order)
    wait_status(handle, "waiting")
    assert handle.update("discount", 20) == 80
    assert handle.update("add", 3) == 30
    assert handle.query("state") == {"discount": 20, "total": 30}
    types = [e["type"] for e in handle.events()]
    assert types.count("update.accepted") == 2 and types.count("update.completed") == 2
    handle.send_event("checkout")
    assert handle.result(timeout=5) == {"discount": 20, "total": 30}
    assert pw.Replayer([msg_order]).replay(handle).ok


def test_a_refused_update_leaves_the_run_untouched(client: pw.SyncClient) -> None:
    handle = client.start(msg_order)
    wait_status(handle, "waiting")
    with pytest.raises(pw.UpdateRejected) as refused:
        handle.update("discount", 90)
    assert "a discount must be 1-50 %, got 90" in str(refused.value)
    assert isinstance(refused.value.__cause__, ValueError)
    assert handle.query("state") == {"discount": 0, "total": 0}
    rejected = [e for e in handle.events() if e["type"].startswith("update.")]
    assert [e["type"] for e in rejected] == ["update.rejected"]
    with pytest.raises(pw.InvalidInput, match="has no update 'refund'; its updates: add, "
                                              "discount"):
        handle.update("refund", 1)


def test_a_failing_update_handler_fails_the_update_not_the_run(client: pw.SyncClient) -> None:
    handle = client.start(msg_order)
    wait_status(handle, "waiting")
    with pytest.raises(pw.UpdateFailed) as failed:
        handle.update("add", -1)
    assert isinstance(failed.value.__cause__, ArithmeticError)
    assert handle.status() == "waiting"
    assert handle.update("add", 1) == 10


def test_an_update_id_applies_once(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(msg_order)
    wait_status(handle, "waiting")
    assert handle.update("add", 2, update_id="cart-7") == 20
    assert handle.update("add", 2, update_id="cart-7") == 20
    pw.shutdown()
    pw.configure(store=str(store))
    again = pw.SyncClient().get_run(handle.run_id)
    # sent while the store reopens and the run replays: still applied once
    assert again.update("add", 2, update_id="cart-7") == 20
    assert again.query("state")["total"] == 20
    assert done == ["price2"]


@pw.workflow
async def msg_slow_update() -> str:
    async def slow() -> str:
        await pw.sleep("1h")
        return "late"

    pw.set_update_handler("slow", slow)
    await pw.wait_for_event("stop")
    return "stopped"


def test_a_run_that_ends_under_an_update_says_so_to_its_caller(vclient: pw.SyncClient) -> None:
    handle = vclient.start(msg_slow_update)
    vclient.skip("1s")
    result: list[object] = []

    def send() -> None:
        try:
            result.append(handle.update("slow"))
        except pw.PyWorkflowError as exc:
            result.append(exc)

    caller = threading.Thread(target=send)
    caller.start()
    deadline = time.time() + 5
    while "update.accepted" not in [e["type"] for e in handle.events()]:
        assert time.time() < deadline
        time.sleep(0.002)
    handle.send_event("stop")
    assert handle.result(timeout=5) == "stopped"
    caller.join(5)
    [error] = result
    assert isinstance(error, pw.UpdateFailed) and "ended (completed) before update" in str(error)


# -- recorded history --------------------------------------------------------------------------

HISTORY = Path(__file__).parent / "histories" / "messages_completed.json"


def test_a_recorded_history_of_signals_a_pause_and_an_update_replays(
        store: Path, restore_definitions: None) -> None:
    from replay_workflows import executed, hist_messages

    executed.clear()
    verdict = pw.Replayer([hist_messages]).replay(HISTORY)
    assert verdict.ok, verdict.detail
    assert verdict.detail == "matches its history and ends completed"
    assert executed == [], "the update's step came from the history"

    @pw.workflow(name="hist_messages")
    async def update_skips_its_step() -> dict[str, object]:
        seen: list[int] = []
        pw.set_signal_handler("add", seen.append)
        pw.set_update_handler("double", lambda n: n * 10)  # was: await hist_b2(n)
        await pw.wait_condition(lambda: len(seen) >= 2)
        return {"seen": seen}

    edited = pw.Replayer([update_skips_its_step]).replay(HISTORY)
    assert not edited.ok
    assert "expected: step hist_b2#1 at position 1" in edited.detail
