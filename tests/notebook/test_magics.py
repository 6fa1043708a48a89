"""The magics in a real IPython shell: %%workflow, %wf, %%wfsql, errors and reloading."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ipyshell import Shell
from IPython.core.error import UsageError

import pyworkflow_nb as pw
from pyworkflow_nb.notebook import EventList, RunList, store_connection
from pyworkflow_nb.notebook.display import VerdictList
from pyworkflow_nb.runtime import runtime

STEPS = """
calls = []

@pw.step
def add(a, b):
    calls.append((a, b))
    return a + b

@pw.step(max_retries=0)
def flaky(x):
    if not ok:
        raise ValueError(f"flaky failed on {x}")
    return x * 10

ok = True
"""


def _wait_status(handle: pw.RunHandle, status: str, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while handle.status() != status:
        assert time.monotonic() < end, f"run stayed {handle.status()}, expected {status}"
        time.sleep(0.01)


def test_load_prints_store_line(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run("%reload_ext pyworkflow_nb")
    assert "pyworkflow_nb: store" in capsys.readouterr().out
    assert "wf" in shell.ip.magics_manager.magics["line"]


def test_workflow_cell_defines_and_runs(shell: Shell) -> None:
    shell.run(STEPS)
    value = shell.run('%%workflow pipe(x, y=2) --run "1, y=5" --id r1 --wait\n'
                      "s = await add(x, y)\nreturn s * 2\n")
    assert value == 12
    assert isinstance(shell.ns["pipe"], pw.definitions.Workflow)
    source = pw.sql("SELECT source FROM workflows WHERE name = 'pipe'").fetchall()[0][0]
    assert source.startswith("%%workflow pipe(x, y=2)\ns = await add(x, y)")


def test_same_id_resumes_without_recomputing(shell: Shell) -> None:
    shell.run(STEPS)
    cell = '%%workflow pipe(x) --run "3" --id same --wait\nreturn await add(x, 1)\n'
    assert shell.run(cell) == 4
    assert shell.run(cell) == 4
    assert shell.ns["calls"] == [(3, 1)]
    with pytest.warns(pw.PyWorkflowWarning, match=r'already exists with input .*"args":\[10\]'):
        assert shell.run(cell.replace('"3"', '"10"')) == 4  # asked for n=10: told, not fooled


def test_workflow_without_run_only_defines(shell: Shell) -> None:
    assert shell.run("%%workflow noop()\nreturn 1\n") is None
    assert pw.run(shell.ns["noop"]) == 1


@pytest.mark.parametrize(("line", "hint"), [
    ("%%workflow 1bad()", "expected a workflow name"),
    ("%%workflow f(1)", "not a valid name(parameters)"),
    ("%%workflow f() --bogus", "unrecognized arguments"),
    ("%%workflow f() --id x", "--id and --wait need --run"),
    ('%%workflow f(x) --run "undefined_name + 1"', "NameError: name 'undefined_name' is not"),
    ('%%workflow f() --run "1,,"', "not valid call arguments"),
])
def test_workflow_bad_line_is_usage_error(shell: Shell, line: str, hint: str) -> None:
    error = shell.fail(f"{line}\nreturn 1\n")
    assert isinstance(error, UsageError)
    assert hint in str(error)


def test_workflow_line_magic_says_use_cell(shell: Shell) -> None:
    error = shell.fail("%workflow f()")
    assert isinstance(error, UsageError) and "cell magic" in str(error)


def test_failure_traceback_points_at_cell(shell: Shell,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(STEPS + "ok = False")
    error = shell.fail('%%workflow pipe() --run --id bad --wait\nx = 1\nreturn await flaky(x)\n')
    assert isinstance(error, pw.WorkflowFailed)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "line 3, in pipe" in text
    assert "return await flaky(x)" in text
    assert "ValueError: flaky failed on 1" in text
    assert "engine frames hidden" in text
    assert "pyworkflow_nb/engine" not in text


def test_syntax_error_in_body_names_cell_line(shell: Shell) -> None:
    error = shell.fail("%%workflow broken()\nx = 1\nreturn (\n")
    assert isinstance(error, SyntaxError)
    assert error.lineno is not None and error.lineno >= 3


def test_wf_runs_show_events(shell: Shell) -> None:
    shell.run(STEPS)
    shell.run('%%workflow pipe(x) --run "2" --id r2 --wait\nreturn await add(x, x)\n')
    runs = shell.run("%wf runs --workflow pipe")
    assert isinstance(runs, RunList) and [h.run_id for h in runs] == ["r2"]
    assert "r2" in repr(runs) and "completed" in runs._repr_html_()
    handle = shell.run("h = %wf show r2")
    assert handle is None and shell.ns["h"].status() == "completed"
    events = shell.run("%wf events r2")
    assert isinstance(events, EventList)
    assert [e["type"] for e in events][-1] == "workflow.completed"
    assert "step.completed" in events._repr_html_()


def test_wf_send_and_cancel(shell: Shell) -> None:
    shell.run('%%workflow approval() --run --id w1\nreturn await pw.wait_for_event("ok")\n')
    _wait_status(pw.get_run("w1"), "waiting")
    shell.run('%wf send w1 ok {"by": "ana"}')
    assert pw.SyncClient().get_run("w1").result(timeout=10) == {"by": "ana"}
    shell.run('%%workflow approval() --run --id w2\nreturn await pw.wait_for_event("ok")\n')
    shell.run("%wf cancel w2")
    _wait_status(pw.get_run("w2"), "cancelled")


def test_wf_terminate_with_a_reason(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run('%%workflow held() --run --id t1\nreturn await pw.wait_for_event("ok")\n')
    _wait_status(pw.get_run("t1"), "waiting")
    shell.run("%wf terminate t1 wrong input file")
    assert "terminated run t1: wrong input file" in capsys.readouterr().out
    assert pw.get_run("t1").status() == "terminated"
    error = shell.fail("%wf terminate t1")
    assert isinstance(error, UsageError) and "already ended (terminated)" in str(error)


def test_wf_signal_and_query(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run('%%workflow tally() --run --id q1\nseen = []\n'
              'pw.set_signal_handler("add", seen.append)\n'
              'pw.set_query_handler("seen", lambda: list(seen))\n'
              'await pw.wait_condition(lambda: len(seen) == 2)\nreturn seen\n')
    _wait_status(pw.get_run("q1"), "waiting")  # on its condition
    shell.run('%wf signal q1 add {"n": 1}')
    assert "sent signal 'add' to run q1" in capsys.readouterr().out
    assert shell.run("%wf query q1 seen") == [{"n": 1}]
    shell.run("%wf signal q1 add 2")
    assert pw.SyncClient().get_run("q1").result(timeout=10) == [{"n": 1}, 2]
    error = shell.fail("%wf signal q1")
    assert isinstance(error, UsageError) and "needs a run id and a signal name" in str(error)


def test_wf_update(shell: Shell) -> None:
    shell.run('%%workflow counter() --run --id u1\nn = {"v": 0}\n'
              'def bump(by):\n    n["v"] += by\n    return n["v"]\n'
              'pw.set_update_handler("bump", bump)\n'
              'return await pw.wait_for_event("done")\n')
    _wait_status(pw.get_run("u1"), "waiting")
    assert shell.run("%wf update u1 bump 5") == 5
    error = shell.fail("%wf update u1 nope 1")
    assert isinstance(error, UsageError) and "has no update 'nope'; its updates: bump" in str(
        error)


def test_wf_pause_and_resume(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run('%%workflow gate() --run --id p1\nreturn await pw.wait_for_event("ok")\n')
    _wait_status(pw.get_run("p1"), "waiting")
    shell.run("%wf pause p1")
    assert "paused run p1: paused" in capsys.readouterr().out
    shell.run("%wf send p1 ok 1")
    shell.run("%wf resume p1")
    assert "resumed run p1" in capsys.readouterr().out
    assert pw.SyncClient().get_run("p1").result(timeout=10) == 1
    shell.run("%wf help")
    assert "%wf pause RUN | %wf resume RUN" in capsys.readouterr().out


def test_wf_retry_keeps_finished_steps(shell: Shell) -> None:
    shell.run(STEPS + "ok = False")
    shell.fail('%%workflow pipe() --run --id rt --wait\n'
               "a = await add(1, 2)\nreturn await flaky(a)\n")
    shell.run("ok = True")
    shell.run("%wf retry rt")
    assert pw.SyncClient().get_run("rt").result(timeout=10) == 30
    assert shell.ns["calls"] == [(1, 2)]
    types = [e["type"] for e in pw.get_run("rt").events()]
    assert "workflow.retried" in types and types[-1] == "workflow.completed"


@pytest.mark.parametrize(("line", "hint"), [
    ("%wf", "needs a subcommand"),
    ("%wf bogus", "invalid choice"),
    ("%wf show", "the following arguments are required"),
    ("%wf show nope", "no run with id 'nope'"),
    ("%wf runs --limit x", "invalid int value"),
    ("%wf runs --limit 0", "--limit must be >= 1"),
    ("%wf send r1", "needs a run id and an event name"),
    ("%wf send r1 ev {bad", "not valid JSON"),
    ("%wf skip -3d", "skip duration must not be negative"),
    ("%wf skip", "needs a duration"),
    ("%wf runs --status complete", "unknown run status 'complete'"),
])
def test_wf_bad_input_is_usage_error(shell: Shell, line: str, hint: str) -> None:
    error = shell.fail(line)
    assert isinstance(error, UsageError)
    assert hint in str(error)


def test_wf_retry_of_completed_run_explains(shell: Shell) -> None:
    shell.run("%%workflow one() --run --id c1 --wait\nreturn 1\n")
    error = shell.fail("%wf retry c1")
    assert isinstance(error, UsageError) and "only failed runs can be retried" in str(error)


def test_wf_help_and_store(shell: Shell, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    shell.run("%wf help")
    assert "%wf retry RUN" in capsys.readouterr().out
    shell.run("%wf store")
    assert str(tmp_path / "store.duckdb") in capsys.readouterr().out
    other = tmp_path / "other.duckdb"
    shell.run(f"%wf store {other}")
    assert f"store {other}" in capsys.readouterr().out
    assert runtime.store is not None and runtime.store.path == str(other)


def test_wfsql_capture_and_parameters(shell: Shell) -> None:
    shell.run(STEPS)
    shell.run('%%workflow pipe(x) --run "2" --id q1 --wait\nreturn await add(x, x)\n')
    shell.run("rid = 'q1'")
    frame = shell.run("%wfsql SELECT step_id, status FROM steps WHERE run_id = {{rid}}")
    assert frame.to_dict("records") == [{"step_id": "add#1", "status": "completed"}]
    assert shell.run("%%wfsql found <<\nSELECT count(*) AS n FROM runs WHERE run_id = $rid\n") \
        is None
    assert int(shell.ns["found"]["n"][0]) == 1
    both = shell.run("%%wfsql again= <<\nSELECT run_id FROM runs\n")
    assert list(both["run_id"]) == ["q1"] and shell.ns["again"] is both


def test_wfsql_parameters_are_not_pasted(shell: Shell) -> None:
    shell.run("evil = \"x' OR '1'='1\"")
    frame = shell.run("%wfsql SELECT count(*) AS n FROM runs WHERE run_id = $evil")
    assert int(frame["n"][0]) == 0


@pytest.mark.parametrize(("cell", "hint"), [
    ("%wfsql SELEC 1", "SQL error: Parser Error"),
    ("%wfsql SELECT * FROM nope", "Table with name nope does not exist"),
    ("%wfsql DELETE FROM runs", "read-only"),
    ("%wfsql EXPLAIN ANALYZE DROP TABLE events", "read-only"),
    ("%wfsql EXPLAIN ANALYZE DELETE FROM runs", "pw.purge(older_than="),
    ("%wfsql SELECT 1; SELECT 2", "one statement at a time"),
    ("%wfsql SELECT $missing", "no notebook variable named 'missing'"),
    ("%wfsql", "no query given"),
])
def test_wfsql_errors_are_usage_errors(shell: Shell, cell: str, hint: str) -> None:
    shell.run("@pw.workflow\nasync def kept() -> int:\n    return 1\n\npw.run(kept)")
    error = shell.fail(cell)
    assert isinstance(error, UsageError)
    assert hint in str(error)
    assert pw.sql("SELECT count(*) FROM runs").fetchall() == [(1,)]
    assert pw.sql("SELECT count(*) FROM events").fetchall() == [(2,)]


def test_unload_and_reload_leave_one_engine(shell: Shell) -> None:
    shell.run("%%workflow sleeper() --run --id s1\nawait pw.sleep('1h')\nreturn 1\n")
    _wait_status(pw.get_run("s1"), "sleeping")
    engine = runtime.engine
    shell.run("%reload_ext pyworkflow_nb")
    assert engine is not None and engine.closing
    reloaded = runtime.engine
    assert reloaded is not None and reloaded is not engine
    # resumed: in memory, or dormant (asleep for an hour, it may leave memory until it wakes)
    assert reloaded.on_loop(lambda: "s1" in reloaded.runs or "s1" in reloaded.dormancy.runs)
    shell.run("%unload_ext pyworkflow_nb")
    assert runtime.engine is None and runtime.store is None
    assert "wf" not in shell.ip.magics_manager.magics["line"]
    shell.run("%load_ext pyworkflow_nb")
    assert pw.get_run("s1").status() == "sleeping"


def test_store_connection_reads_the_store(shell: Shell) -> None:
    shell.run("%%workflow one() --run --id sc --wait\nreturn 1\n")
    conn = store_connection()
    assert conn.execute("SELECT status FROM runs WHERE run_id = 'sc'").fetchall() == [
        ("completed",)]


def test_edited_cell_that_no_longer_matches_says_so(
        shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(STEPS)
    shell.run('%%workflow div() --run --id d1\nawait add(1, 1)\n'
              'return await pw.wait_for_event("go")\n')
    _wait_status(pw.get_run("d1"), "waiting")
    shell.run("%unload_ext pyworkflow_nb")
    shell.run('@pw.workflow(name="div")\nasync def changed():\n    return await flaky(1)\n')
    shell.run("%load_ext pyworkflow_nb")
    error = shell.fail('pw.SyncClient().get_run("d1").result(timeout=10)')
    assert isinstance(error, pw.WorkflowFailed)
    assert isinstance(error.__cause__, pw.NonDeterminismError)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "expected: step add#1" in text and "actual:   step flaky#1" in text
    assert "run it with a new `--id`" in text


def test_load_on_a_file_that_is_not_a_store_is_a_usage_error(
        shell: Shell, tmp_path: Path) -> None:
    bad = tmp_path / "not_a_store.duckdb"
    bad.write_text("hello")
    shell.run("%unload_ext pyworkflow_nb")
    shell.run(f"pw.configure(store={str(bad)!r})")
    error = shell.fail("%load_ext pyworkflow_nb")
    assert isinstance(error, UsageError) and "not a pyworkflow_nb store" in str(error)


def test_wf_fork_reruns_a_fixed_step_without_paying_for_the_ones_before_it(
        shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(STEPS + "ok = False")
    shell.fail('%%workflow pipe() --run --id fk1 --wait\n'
               "a = await add(1, 2)\nreturn await flaky(a)\n")
    shell.run("@pw.step\ndef flaky(x):\n    return x * 100\n")  # the step's cell, fixed
    forked = shell.run("h = %wf fork fk1 flaky#1 --id fk1-fixed\nh")
    assert "forked run fk1-fixed from run fk1 at step flaky#1" in capsys.readouterr().out
    assert forked.run_id == "fk1-fixed"
    assert pw.SyncClient().get_run("fk1-fixed").result(timeout=10) == 300
    assert shell.ns["calls"] == [(1, 2)]
    assert pw.get_run("fk1-fixed").row().forked_from == "fk1"
    error = shell.fail("%wf fork fk1 report")
    assert isinstance(error, UsageError)
    assert "no step 'report' to fork from; its steps: add#1, flaky#1" in str(error)
    shell.run("%wf help")
    assert "%wf fork RUN STEP [--id NEW]" in capsys.readouterr().out


def test_wf_restart_runs_a_run_again_under_its_own_id(
        shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(STEPS)
    shell.run('%%workflow pipe() --run --id rs1 --wait\nreturn await add(1, 2)\n')
    shell.run("%wf restart rs1 prices changed")
    assert "restarted run rs1; its earlier attempt is run rs1~1" in capsys.readouterr().out
    assert pw.SyncClient().get_run("rs1").result(timeout=10) == 3
    assert shell.ns["calls"] == [(1, 2), (1, 2)]
    assert pw.get_run("rs1~1").row().attempt_of == "rs1"
    shell.run("%wf help")
    assert "%wf restart RUN [REASON]" in capsys.readouterr().out


def test_retried_run_recovers_after_reload(shell: Shell) -> None:
    shell.run(STEPS + "ok = False")
    shell.fail('%%workflow gated() --run --id rr --wait\na = await add(2, 3)\n'
               'b = await flaky(a)\nreturn b + (await pw.wait_for_event("go"))\n')
    shell.run("ok = True")
    shell.run("await pw.get_run('rr').retry()")
    _wait_status(pw.get_run("rr"), "waiting")
    shell.run("%reload_ext pyworkflow_nb")
    shell.run("%wf send rr go 1")
    assert pw.SyncClient().get_run("rr").result(timeout=10) == 51
    assert shell.ns["calls"] == [(2, 3)]


def test_full_tracebacks_on_request(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(STEPS + "ok = False")
    shell.run("%config WorkflowMagics.short_errors = False")
    shell.fail('%%workflow pipe() --run --id full --wait\nreturn await flaky(1)\n')
    out = capsys.readouterr()
    assert "pyworkflow_nb/engine" in out.out + out.err


def test_wf_replay_checks_an_edited_cell_against_the_runs_in_flight(shell: Shell) -> None:
    shell.run(STEPS)
    body = 'await add(1, 1)\nreturn await pw.wait_for_event("go")\n'
    shell.run(f"%%workflow gate() --run --id g1\n{body}")
    shell.run(f"%%workflow gate() --run --id g2\n{body}")
    _wait_status(pw.get_run("g1"), "waiting")
    _wait_status(pw.get_run("g2"), "waiting")
    verdicts = shell.run("%wf replay gate")
    assert isinstance(verdicts, VerdictList) and sorted(v.run_id for v in verdicts) == [
        "g1", "g2"]
    assert all(verdicts) and "all fit the code" in verdicts._repr_html_()
    shell.run('%%workflow gate()\nawait add(2, 2)\nreturn await pw.wait_for_event("go")\n')
    assert all(shell.run("%wf replay gate"))  # same commands, other arguments: still fits
    shell.run('%%workflow gate()\nawait flaky(1)\nreturn await pw.wait_for_event("go")\n')
    verdicts = shell.run("%wf replay gate")
    assert not any(verdicts) and "2 diverged" in repr(verdicts)
    assert "expected: step add#1" in verdicts[0].detail
    assert "actual:   step flaky#1 at position 1" in verdicts[0].detail
    one = shell.run("%wf replay g1")
    assert [v.run_id for v in one] == ["g1"]
    error = shell.fail("%wf replay no-such-run")
    assert isinstance(error, UsageError) and "no run with id 'no-such-run'" in str(error)


def test_wf_metrics_shows_the_engine_counters_as_a_table(shell: Shell) -> None:
    shell.run(STEPS)
    shell.run('%%workflow metered_cell() --run --id m1 --wait\nreturn await add(1, 2)\n')
    table = shell.run("%wf metrics")
    assert isinstance(table, pw.Metrics)
    assert table.value("step_attempts_total", workflow="metered_cell", step="add") == 1
    html = table._repr_html_()
    assert "runs_finished_total" in html and "workflow=metered_cell, status=completed" in html
