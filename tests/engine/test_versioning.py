"""Changing code under runs in flight: pw.patched, deprecate_patch and get_version.

Live runs against a real store, restarts through the recovery path, and replays of recorded
histories (histories/patched_before.json ran the code before the change, patched_after.json
the code with it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_workflows import executed, hist_a, hist_b, hist_patched, hist_patched_before
from waiting import wait_status

import pyworkflow_nb as pw

HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture
def client(any_client: pw.SyncClient) -> pw.SyncClient:
    """Every test here runs on a DuckDB store and on a PostgreSQL one."""
    return any_client


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()



def _markers(handle: pw.SyncRunHandle) -> list[tuple[str, dict]]:
    return [(e["step"], e["data"]) for e in handle.events() if e["type"] == "patch.recorded"]


@pw.workflow
async def vers_twice() -> list[bool]:
    first = pw.patched("tidy")
    await hist_a(1)
    return [first, pw.patched("tidy"), pw.patched("other")]


def test_a_live_run_takes_the_change_and_records_it_once(client: pw.SyncClient) -> None:
    handle = client.start(vers_twice)
    assert handle.result(timeout=5) == [True, True, True]
    assert _markers(handle) == [("tidy", {"version": 1, "deprecated": False}),
                                ("other", {"version": 1, "deprecated": False})]
    assert pw.sql("SELECT count(*) FROM events WHERE type = 'patch.recorded'").fetchall() == [
        (2,)]


@pw.workflow
async def vers_flow() -> int:
    x = await hist_a(1)
    y = await pw.wait_for_event("go")
    return x + y


def test_a_run_from_before_the_change_keeps_its_path_and_takes_later_changes(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    old = client.start(vers_flow)
    wait_status(old, "waiting")
    pw.shutdown()

    @pw.workflow(name="vers_flow")
    async def changed() -> int:
        if pw.patched("use-b"):  # before the wait the run already passed: the old branch
            x = await hist_b(1)
        else:
            x = await hist_a(1)
        y = await pw.wait_for_event("go")
        if pw.patched("times-ten"):  # after it: the run meets this live
            y *= 10
        return x + y

    pw.configure(store=str(store))
    client = pw.SyncClient()
    [resumed] = client.recover()
    resumed.send_event("go", 2)
    assert resumed.result(timeout=5) == 1 + 20
    assert _markers(resumed) == [("times-ten", {"version": 1, "deprecated": False})]
    fresh = client.start(changed)
    fresh.send_event("go", 2)
    assert fresh.result(timeout=5) == 1 + 20
    assert [m for m, _ in _markers(fresh)] == ["use-b", "times-ten"]
    assert executed == ["a1", "b1"]  # the old run's step came from its history


def test_a_diverged_run_resumes_once_the_edit_is_behind_patched(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    handle = client.start(vers_flow)
    wait_status(handle, "waiting")
    pw.shutdown()

    @pw.workflow(name="vers_flow")
    async def edited() -> int:
        x = await hist_b(1)
        return x + await pw.wait_for_event("go")

    pw.configure(store=str(store))
    client = pw.SyncClient()
    client.recover()
    with pytest.raises(pw.WorkflowFailed) as failed:
        handle.result(timeout=5)
    error = failed.value.__cause__
    assert isinstance(error, pw.NonDeterminismError)
    assert 'if pw.patched("my-change"):' in str(error)

    @pw.workflow(name="vers_flow")
    async def fixed() -> int:
        x = await (hist_b(1) if pw.patched("use-b") else hist_a(1))
        return x + await pw.wait_for_event("go")

    handle.retry()
    handle.send_event("go", 5)
    assert handle.result(timeout=5) == 6
    assert executed == ["a1"]


@pw.workflow
async def vers_deprecated() -> int:
    pw.deprecate_patch("use-b")
    return await hist_b(1)


def test_deprecate_patch_takes_the_change_and_records_it_as_deprecated(
        client: pw.SyncClient) -> None:
    handle = client.start(vers_deprecated)
    assert handle.result(timeout=5) == 1
    assert _markers(handle) == [("use-b", {"version": 1, "deprecated": True})]


@pw.workflow
async def vers_versions(bounds: list[int]) -> int:
    version = pw.get_version("schema", *bounds)
    await pw.wait_for_event("go")
    return version


def test_get_version_records_the_newest_and_replays_it(
        store: Path, client: pw.SyncClient) -> None:
    handle = client.start(vers_versions, [pw.DEFAULT_VERSION, 3])
    wait_status(handle, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))
    [resumed] = pw.SyncClient().recover()
    resumed.send_event("go")
    assert resumed.result(timeout=5) == 3
    assert _markers(resumed) == [("schema", {"version": 3, "deprecated": False})]


def test_a_run_before_get_version_gets_the_default_version(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    handle = client.start(vers_flow)
    wait_status(handle, "waiting")
    pw.shutdown()

    @pw.workflow(name="vers_flow")
    async def versioned() -> int:
        step = hist_a if pw.get_version("pick", pw.DEFAULT_VERSION, 2) == -1 else hist_b
        x = await step(1)
        return x + await pw.wait_for_event("go")

    pw.configure(store=str(store))
    [resumed] = pw.SyncClient().recover()
    resumed.send_event("go", 1)
    assert resumed.result(timeout=5) == 2
    assert _markers(resumed) == []


def test_a_version_the_code_dropped_fails_the_run_saying_which(
        store: Path, client: pw.SyncClient, restore_definitions: None) -> None:
    handle = client.start(vers_versions, [1, 1])
    wait_status(handle, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))

    @pw.workflow(name="vers_versions")
    async def dropped_version_1(bounds: list[int]) -> int:
        version = pw.get_version("schema", 2, 3)
        await pw.wait_for_event("go")
        return version

    pw.SyncClient().recover()
    with pytest.raises(pw.WorkflowFailed) as failed:
        handle.result(timeout=5)
    error = failed.value.__cause__
    assert isinstance(error, pw.NonDeterminismError)
    assert "follows version 1 of change 'schema'" in str(error)
    assert "versions 2 to 3 only" in str(error)


@pw.step
async def vers_in_step() -> bool:
    return pw.patched("x")


@pw.workflow
async def vers_step_calls() -> bool:
    return await vers_in_step()


@pw.workflow
async def vers_bad_id() -> bool:
    return pw.patched("  ")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: pw.patched("x"), "needs a @pw.workflow function around it"),
    (lambda: pw.patched(3), "needs a change id string"),  # type: ignore[arg-type]
    (lambda: pw.get_version("x", 2, 1), "min_supported (2) is above max_supported (1)"),
    (lambda: pw.get_version("x", -1, 0), "max_supported must be >= 1"),
    (lambda: pw.get_version("x", "1", 2), "min_supported must be an int"),  # type: ignore
])
def test_bad_calls_say_what_is_wrong(call: object, message: str) -> None:
    with pytest.raises((pw.InvalidInput, pw.WorkflowContextError), match=message.replace(
            "(", r"\(").replace(")", r"\)")):
        call()  # type: ignore[operator]


def test_patched_in_a_step_or_with_a_blank_id_fails_the_run_clearly(
        client: pw.SyncClient) -> None:
    with pytest.raises(pw.WorkflowFailed) as in_step:
        client.run(vers_step_calls)
    assert "pw.patched() cannot be used inside step vers_in_step#1" in str(
        in_step.value.__cause__)
    with pytest.raises(pw.WorkflowFailed) as blank:
        client.run(vers_bad_id)
    assert "needs a change id string" in str(blank.value.__cause__)


# -- recorded histories ------------------------------------------------------------------------

def test_the_patched_code_replays_runs_from_before_and_after_the_change(store: Path) -> None:
    for name in ("patched_before.json", "patched_after.json"):
        verdict = pw.Replayer([hist_patched]).replay(HISTORIES / name)
        assert verdict.ok, (name, verdict.detail)
        assert verdict.detail == "matches its history and ends completed"
    assert executed == []


def test_deprecated_and_removed_patches_replay_runs_that_took_the_change(
        store: Path, restore_definitions: None) -> None:
    @pw.workflow(name="hist_patched")
    async def deprecated() -> int:
        pw.deprecate_patch("use-b")
        return await hist_b(1) + await pw.wait_for_event("go")

    assert pw.Replayer([deprecated]).replay(HISTORIES / "patched_after.json").ok

    @pw.workflow(name="hist_patched")
    async def removed() -> int:
        return await hist_b(1) + await pw.wait_for_event("go")

    assert pw.Replayer([removed]).replay(HISTORIES / "patched_after.json").ok
    before = pw.Replayer([removed]).replay(HISTORIES / "patched_before.json")
    assert not before.ok, "a run from before the change still needs the old branch"
    assert "expected: step hist_a#1 at position 1" in before.detail
    assert "actual:   step hist_b#1 at position 1" in before.detail


def test_the_old_code_does_not_fit_a_run_that_took_the_change(
        store: Path, restore_definitions: None) -> None:
    old = pw.workflow(name="hist_patched")(hist_patched_before)
    verdict = pw.Replayer([old]).replay(HISTORIES / "patched_after.json")
    assert not verdict.ok
    assert "expected: step hist_b#1 at position 1" in verdict.detail
