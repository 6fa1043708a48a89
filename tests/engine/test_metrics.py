"""Metrics: what runs, steps, commits and timers did, as pw.metrics() and for Prometheus."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb import prometheus
from pyworkflow_nb.engine.metrics import STEP_DURATION, EngineMetrics

ATTEMPTS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _first_attempts_fail_again() -> None:
    """Each test (on each store) starts with no attempts counted."""
    ATTEMPTS.clear()


@pw.step(max_retries=2, retry_delay=0)
def flaky_fetch(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise ConnectionError("first try fails")
    time.sleep(0.05)
    return key.upper()


@pw.step(max_retries=0)
def explode() -> None:
    raise ValueError("no")


@pw.workflow
async def metered(key: str) -> str:
    return await flaky_fetch(key)


@pw.workflow
async def metered_failure() -> None:
    await explode()


@pw.workflow
async def metered_nap() -> str:
    await pw.sleep(0.05)
    return "rested"


@pw.workflow
async def metered_wait() -> Any:
    return await pw.wait_for_event("go")


@pw.workflow
async def metered_steps() -> list[str]:
    return [await flaky_fetch("fork-a"), await flaky_fetch("fork-b")]


def test_runs_steps_retries_and_failures_are_counted_by_workflow_and_step(
        client: pw.SyncClient) -> None:
    assert client.run(metered, "a") == "A"
    with pytest.raises(pw.WorkflowFailed):
        client.run(metered_failure)
    m = pw.metrics()
    assert m.value("runs_started_total") == 2
    assert m.value("runs_started_total", workflow="metered") == 1
    assert m.value("runs_finished_total", workflow="metered", status="completed") == 1
    assert m.value("runs_finished_total", workflow="metered_failure", status="failed") == 1
    assert m.value("runs_finished_total", status="failed") == 1
    assert m.value("step_attempts_total", workflow="metered", step="flaky_fetch") == 2
    assert m.value("step_failures_total", workflow="metered", step="flaky_fetch") == 1
    assert m.value("step_failures_total", step="explode") == 1
    durations = [s for s in m if s.name == STEP_DURATION.name
                 and s.labels == {"workflow": "metered", "step": "flaky_fetch"}]
    assert len(durations) == 1 and durations[0].value == 2  # the failed attempt and the good one
    assert durations[0].max >= 0.05 and durations[0].sum >= 0.05
    assert m.value("run_duration_seconds", workflow="metered") == 1
    # every event row of the store went through a timed group commit
    stored = pw.sql("SELECT count(*) FROM events").fetchall()[0][0]
    m = pw.metrics()
    assert m.value("events_committed_total") == stored
    assert m.value("commit_duration_seconds") >= 1
    assert m.value("runs_live") == 0


def test_a_fired_timer_reports_its_lag_and_live_runs_show_as_gauges(
        client: pw.SyncClient) -> None:
    assert client.run(metered_nap) == "rested"
    lag = [s for s in pw.metrics() if s.name == "pyworkflow_nb_timer_lag_seconds"]
    assert len(lag) == 1 and lag[0].value == 1
    assert 0 <= lag[0].max < 5
    waiting = client.start(metered_wait)
    wait_status(waiting, "waiting")
    assert pw.metrics().value("runs_live", status="waiting") == 1
    waiting.send_event("go", 1)
    assert waiting.result(timeout=5) == 1
    assert pw.metrics().value("runs_live") == 0


def test_virtual_sleepers_count_as_pending_timers_and_fire_without_lag(
        vclient: pw.SyncClient) -> None:
    handles = [vclient.start(metered_nap) for _ in range(3)]
    for h in handles:
        wait_status(h, "sleeping")
    assert pw.metrics().value("timers_pending") == 3
    assert pw.metrics().value("runs_live", status="sleeping") == 3
    pw.skip("1s")
    assert [h.result(timeout=5) for h in handles] == ["rested"] * 3
    m = pw.metrics()
    assert m.value("timers_pending") == 0
    assert m.value("timer_lag_seconds") == 0  # virtual time: no wall-clock lag to speak of


def test_recovered_runs_count_as_recovered_not_started(store: Path) -> None:
    client = pw.SyncClient()
    waiting = client.start(metered_wait)
    wait_status(waiting, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))
    pw.SyncClient().recover()
    m = pw.metrics()
    assert m.value("runs_recovered_total", workflow="metered_wait") == 1
    assert m.value("runs_started_total") == 0
    pw.SyncClient().get_run(waiting.run_id).send_event("go", 2)
    assert pw.SyncClient().get_run(waiting.run_id).result(timeout=5) == 2
    assert pw.metrics().value("runs_finished_total", workflow="metered_wait") == 1


def test_a_fork_counts_only_what_it_executes_not_the_history_it_copies(
        client: pw.SyncClient) -> None:
    source = client.start(metered_steps)
    assert source.result(timeout=5) == ["FORK-A", "FORK-B"]
    before = pw.metrics().value("step_attempts_total")
    assert before == 4  # two steps, each failing once
    fork = source.fork("flaky_fetch#2")
    assert fork.result(timeout=5) == ["FORK-A", "FORK-B"]
    m = pw.metrics()
    assert m.value("step_attempts_total") == before + 1  # only flaky_fetch#2 ran again
    assert m.value("runs_started_total", workflow="metered_steps") == 2


def test_listeners_see_each_change_and_a_broken_one_breaks_nothing(
        client: pw.SyncClient, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, float, dict[str, str]]] = []
    remove = pw.on_metric(lambda name, value, labels: seen.append((name, value, dict(labels))))

    def broken(name: str, value: float, labels: Any) -> None:
        raise RuntimeError("listener bug")

    remove_broken = pw.on_metric(broken)
    try:
        assert client.run(metered, "b") == "B"
    finally:
        remove()
        remove_broken()
    names = [name for name, _, _ in seen]
    assert ("pyworkflow_nb_runs_started_total", 1, {"workflow": "metered"}) in seen
    assert names.count("pyworkflow_nb_step_attempts_total") == 2
    assert any(n == "pyworkflow_nb_commit_duration_seconds" and v > 0 for n, v, _ in seen)
    assert "listener bug" in caplog.text
    count = len(seen)
    assert client.run(metered, "c") == "C"
    assert len(seen) == count  # removed: told nothing more


def test_the_table_shows_each_series_with_latency_columns(client: pw.SyncClient) -> None:
    client.run(metered, "d")
    m = pw.metrics()
    text = str(m)
    assert text.splitlines()[0].split() == ["metric", "labels", "value", "mean", "p50", "p99",
                                            "max"]
    line = next(x for x in text.splitlines() if x.startswith("step_duration_seconds"))
    assert "workflow=metered, step=flaky_fetch" in line and " ms" in line
    html = m._repr_html_()
    assert html.startswith("<table") and "step_attempts_total" in html
    rows = m.rows()
    step = next(r for r in rows if r["metric"] == STEP_DURATION.name)
    assert step["p50"] <= step["p99"] <= step["max"]
    assert list(m.df().columns)[:4] == ["metric", "kind", "labels", "value"]


def test_quantiles_are_estimated_within_their_bucket_and_never_above_the_max() -> None:
    metrics = EngineMetrics()
    for ms in range(1, 101):
        metrics.observe(STEP_DURATION, ms / 1000, "wf", "s")
    (sample,) = metrics.samples()
    assert sample.value == 100 and sample.max == pytest.approx(0.1)
    assert sample.mean == pytest.approx(0.0505)
    assert 0.025 <= sample.quantile(0.5) <= 0.05  # (the 50th value, 50 ms, is in 25-50 ms)
    assert sample.quantile(0.99) <= sample.max
    assert sample.buckets[-1] == (float("inf"), 100)


def test_prometheus_scrapes_the_same_series(client: pw.SyncClient) -> None:
    client.run(metered, "e")
    server = pw.serve_metrics(port=0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    finished = families["pyworkflow_nb_runs_finished"]
    assert finished.type == "counter"
    assert [(s.labels, s.value) for s in finished.samples if s.name.endswith("_total")] == [
        ({"workflow": "metered", "status": "completed"}, 1.0)]
    steps = families["pyworkflow_nb_step_duration_seconds"]
    assert steps.type == "histogram"
    count = next(s for s in steps.samples if s.name.endswith("_count"))
    assert count.labels == {"workflow": "metered", "step": "flaky_fetch"} and count.value == 2
    inf = next(s for s in steps.samples if s.labels.get("le") == "+Inf")
    assert inf.value == 2


def test_a_registry_of_ones_own_and_a_taken_port(client: pw.SyncClient) -> None:
    registry = CollectorRegistry()
    assert prometheus.register(registry) is prometheus.register(registry)  # once
    client.run(metered, "f")
    assert registry.get_sample_value("pyworkflow_nb_runs_started_total",
                                     {"workflow": "metered"}) == 1
    server = pw.serve_metrics(port=0)
    try:
        with pytest.raises(pw.InvalidInput, match=f"cannot serve metrics on 127.0.0.1:"
                                                  f"{server.port}: .*choose another port"):
            pw.serve_metrics(port=server.port)
    finally:
        server.close()


def test_serving_without_prometheus_client_says_which_extra_to_install(
        client: pw.SyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(pw.PyWorkflowError, match=r"pip install 'pyworkflow_nb\[prometheus\]'"):
        pw.serve_metrics(port=0)
    assert pw.metrics().value("runs_started_total") == 0  # pw.metrics() needs no extra
