"""The command line, run as users run it: ``python -m pyworkflow_nb`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime


@pw.step
def cli_double(x: int) -> int:
    return 2 * x


@pw.workflow
async def cli_flow(x: int) -> int:
    return await cli_double(x) + await pw.wait_for_event("go")


@pw.workflow
async def cli_quick(x: int) -> int:
    return await cli_double(x)


def cli(store: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    where = ["--store", str(store)] if store is not None else []
    proc = subprocess.run([sys.executable, "-m", "pyworkflow_nb", *where, *args],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A closed store with a completed run, a waiting run and a schedule."""
    path = tmp_path / "cli.duckdb"
    pw.configure(store=str(path), durability="sync")
    c = pw.SyncClient()
    c.run(cli_quick, 4, run_id="done-1")
    waiting = c.start(cli_flow, 5, run_id="wait-1")
    while waiting.status() != "waiting":
        pass
    pw.schedule(cli_quick, every="1d", args=[1], schedule_id="daily")
    pw.shutdown()
    runtime.config = Config()
    return path


def test_reads_show_runs_steps_events_sql_and_schedules(filled: Path) -> None:
    runs = cli(filled, "runs")
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert lines[0].split() == ["run_id", "workflow", "status", "created_at", "finished_at"]
    assert [ln.split()[:3] for ln in lines[2:]] == [["wait-1", "cli_flow", "waiting"],
                                                    ["done-1", "cli_quick", "completed"]]
    as_json = json.loads(cli(filled, "--json", "runs", "--status", "completed").stdout)
    assert [r["run_id"] for r in as_json] == ["done-1"]
    assert cli(filled, "runs", "--since", "0s").stdout.strip() == "(none)"
    show = cli(filled, "show", "done-1").stdout
    assert show.startswith("run done-1 of cli_quick: completed") and "result: 8" in show
    assert "cli_double#1  |" in show and "completed" in show
    events = cli(filled, "events", "wait-1").stdout
    assert "workflow.started" in events and "wait.started" in events
    csv = cli(filled, "sql", "SELECT run_id, status FROM runs ORDER BY run_id", "--format",
              "csv").stdout
    assert csv.splitlines() == ["run_id,status", "done-1,completed", "wait-1,waiting"]
    schedules = cli(filled, "--json", "schedules").stdout
    assert [s["schedule_id"] for s in json.loads(schedules)] == ["daily"]


def test_send_and_cancel_change_the_store_for_the_notebook_to_pick_up(filled: Path) -> None:
    sent = cli(filled, "send", "wait-1", "go", "10")
    assert sent.returncode == 0 and "sent 'go' to run wait-1" in sent.stdout, sent.stderr
    pw.configure(store=str(filled))
    try:
        assert pw.SyncClient().get_run("wait-1").result(timeout=10) == 20
    finally:
        pw.shutdown()
        runtime.config = Config()
    done = cli(filled, "cancel", "done-1", "--reason", "late")
    assert done.returncode == 1 and "already ended (completed)" in done.stderr
    pw.configure(store=str(filled))
    try:
        again = pw.SyncClient().start(cli_flow, 1, run_id="wait-2")
        while again.status() != "waiting":
            pass
    finally:
        pw.shutdown()
        runtime.config = Config()
    cancelled = cli(filled, "cancel", "wait-2", "--reason", "not needed")
    assert cancelled.stdout.strip() == "cancelled run wait-2: not needed", cancelled.stderr
    shown = json.loads(cli(filled, "--json", "show", "wait-2").stdout)
    assert shown["status"] == "cancelled" and shown["error"]["message"] == "not needed"


@pytest.mark.parametrize(("args", "said"), [
    (["show", "nope"], "nope"),
    (["send", "wait-1", "go", "{not json"], "is not valid JSON"),
    (["sql", "DELETE FROM runs"], "read-only"),
    (["runs", "--status", "complete"], "unknown run status 'complete'"),
    (["runs", "--limit", "0"], "--limit must be >= 1"),
    (["retry", "done-1"], "only failed runs can be retried"),
    (["worker", "--app", "no_such_app_module"], "cannot import no_such_app_module"),
    (["worker", "--app", "json"], "json defined no @pw.workflow for the worker to run"),
    (["worker", "--app", "json", "--concurrency", "0"], "concurrency must be an int >= 1"),
])
def test_errors_are_one_line_without_a_traceback_and_change_nothing(
        filled: Path, args: list[str], said: str) -> None:
    before = filled.read_bytes()
    proc = cli(filled, *args)
    assert proc.returncode == 1 and said in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"pyworkflow-nb {args[0]}: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    if args[0] in ("show", "sql", "runs"):
        assert filled.read_bytes() == before


def test_a_store_that_is_missing_or_held_elsewhere_is_named(filled: Path,
                                                            tmp_path: Path) -> None:
    missing = cli(tmp_path / "nothing-here.duckdb", "runs")
    assert missing.returncode == 1 and "there is no store at" in missing.stderr
    pw.configure(store=str(filled))
    try:
        pw.list_runs()  # this process holds the store now
        held = cli(filled, "runs")
        assert held.returncode == 1 and "held by the script" in held.stderr, held.stderr
    finally:
        pw.shutdown()
        runtime.config = Config()
    assert cli(None, "--version").stdout.strip() == f"pyworkflow-nb {pw.__version__}"


FLOWS = """
import pyworkflow_nb as pw

@pw.step
def cli_double(x):
    return 2 * x

@pw.step
def cli_triple(x):
    return 3 * x

@pw.workflow
async def cli_flow(x):
    return await {first}(x) + await pw.wait_for_event("go")
"""


def test_replay_checks_code_from_a_file_and_fails_the_command_on_a_divergence(
        filled: Path, tmp_path: Path) -> None:
    same, edited = tmp_path / "same.py", tmp_path / "edited.py"
    same.write_text(FLOWS.format(first="cli_double"))
    edited.write_text(FLOWS.format(first="cli_triple"))
    ok = cli(filled, "replay", "wait-1", "--import", str(same))
    assert ok.returncode == 0 and ok.stdout.startswith("wait-1 (cli_flow): ok"), ok.stderr
    by_name = json.loads(cli(filled, "--json", "replay", "cli_flow", "--import",
                             str(same)).stdout)
    assert [(v["run_id"], v["ok"]) for v in by_name] == [("wait-1", True)]
    bad = cli(filled, "replay", "wait-1", "--import", str(edited))
    assert bad.returncode == 1 and "DIVERGED" in bad.stdout
    assert "expected: step cli_double#1" in bad.stdout
    missing = cli(filled, "replay", "wait-1", "--import", "no_such_module_here")
    assert missing.returncode == 1 and "cannot import no_such_module_here" in missing.stderr
