"""The DuckDB store: schema, payloads, paths, locking and foreign files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime
from pyworkflow_nb.store import Batch, DuckDBStore, RunRow
from pyworkflow_nb.store.duckdb_store import FIND_BY_KEY, LISTED_RUNS, SCHEMA_VERSION


@pw.step
async def returns(value: object) -> object:
    return value


@pw.workflow
async def store_value(kind: str) -> object:
    values = {"tuple": (1, 2), "lock": threading.Lock(), "json": {"a": [1, "x", None]}}
    return await returns(values[kind])


def test_schema_is_created_with_its_version(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    tables = {t for (t,) in store.sql("SELECT table_name FROM information_schema.tables")
              .fetchall()}
    assert {"runs", "events", "workflows", "steps", "timers", "waits"} <= tables
    assert store.sql("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION),)]
    store.close()
    DuckDBStore(tmp_path / "s.duckdb").close()  # re-opening migrates nothing


def test_json_payloads_are_queryable(client: pw.SyncClient) -> None:
    handle = client.start(store_value, "json")
    assert handle.result() == {"a": [1, "x", None]}
    rows = pw.sql("SELECT result ->> '$.a[1]' FROM steps WHERE run_id = ?",
                  [handle.run_id]).fetchall()
    assert rows == [("x",)]


def test_values_json_cannot_hold_are_pickled_and_marked(client: pw.SyncClient) -> None:
    handle = client.start(store_value, "tuple")
    assert handle.result() == (1, 2)
    [(raw,)] = pw.sql("SELECT result FROM steps WHERE run_id = ?", [handle.run_id]).fetchall()
    envelope = json.loads(raw)
    assert envelope["type"] == "builtins.tuple" and envelope["repr"] == "(1, 2)"


def test_unserialisable_result_fails_the_step_clearly(client: pw.SyncClient) -> None:
    handle = client.start(store_value, "lock")
    with pytest.raises(pw.WorkflowFailed) as info:
        handle.result()
    cause = info.value.__cause__
    assert isinstance(cause, pw.SerializationError)
    assert "the result of step returns#1" in str(cause)
    assert "_thread.lock" in str(cause)
    failed = [e for e in handle.events() if e["type"] == "step.failed"]
    assert len(failed) == 1 and failed[0]["data"]["final"]


def test_memory_store_works() -> None:
    pw.configure(store=":memory:")
    try:
        assert pw.run(store_value, "json") == {"a": [1, "x", None]}
    finally:
        pw.shutdown()
        runtime.config = Config()


def test_default_path_and_environment_variable(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYWORKFLOW_NB_STORE", raising=False)
    assert Config().store_path() == str(Path(".pyworkflow_nb") / "store.duckdb")
    monkeypatch.setenv("PYWORKFLOW_NB_STORE", str(tmp_path / "env.duckdb"))
    assert Config().store_path() == str(tmp_path / "env.duckdb")
    assert Config(store="explicit.duckdb").store_path() == "explicit.duckdb"
    try:
        pw.run(store_value, "json")
        assert (tmp_path / "env.duckdb").exists()
    finally:
        pw.shutdown()
        runtime.config = Config()


def test_second_process_gets_store_locked_error(store: Path, client: pw.SyncClient) -> None:
    client.run(store_value, "json")
    code = (
        "import pyworkflow_nb as pw\n"
        f"pw.configure(store={str(store)!r})\n"
        "try:\n    pw.list_runs()\n"
        "except pw.StoreLockedError as e:\n    print('LOCKED', e.pid, e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    out = proc.stdout
    assert out.startswith(f"LOCKED {os.getpid()} "), f"stdout:\n{out}\nstderr:\n{proc.stderr}"
    assert str(store) in out and "read_only=True" in out
    assert "held by the script " in out and f"(process {os.getpid()}, since " in out


def test_a_notebook_kernel_defaults_to_a_store_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYWORKFLOW_NB_STORE", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "work" / "analysis.ipynb"))
    assert Config().store_path() == str(tmp_path / "work" / ".pyworkflow_nb" / "analysis.duckdb")
    monkeypatch.setenv("JPY_SESSION_NAME", "a console, not a notebook")
    assert Config().store_path() == str(Path(".pyworkflow_nb") / "store.duckdb")


def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are my notes, not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(pw.StoreError, match="not a valid DuckDB database file"):
        DuckDBStore(path)
    assert path.read_bytes() == before


def test_foreign_duckdb_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales(x INTEGER)")
    con.close()
    with pytest.raises(pw.StoreError, match=r"not a pyworkflow_nb store.*sales"):
        DuckDBStore(path)
    con = duckdb.connect(str(path))
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert tables == [("sales",)]
    con.close()


def test_read_only_store_reads(store: Path, client: pw.SyncClient) -> None:
    handle = client.start(store_value, "json")
    handle.result()
    pw.shutdown()
    pw.configure(store=str(store), read_only=True)
    try:
        assert pw.get_run(handle.run_id).status() == "completed"
    finally:
        pw.shutdown()
        runtime.config = Config(store=str(store))


def _event(run_id: str, seq: int, type_: str = "step.started") -> tuple[object, ...]:
    return (run_id, seq, 1_700_000_000.0 + seq, type_, "s#1", 1, "{}")


def _run(run_id: str, status: str, created: float) -> tuple[object, ...]:
    return RunRow(run_id, "wf", "v1", status, created_at=created, updated_at=created).snapshot()


def test_unfinished_histories_load_every_unfinished_run_in_one_go(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    runs = {"b": ("sleeping", 2.0), "a": ("completed", 1.0), "c": ("waiting", 3.0),
            "d": ("running", 4.0)}
    events = [_event(r, s) for s in (3, 1, 2) for r in ("a", "b", "c")]
    store.commit(Batch(events=events, new_runs={r: _run(r, st, t)
                                                for r, (st, t) in runs.items()}))
    loaded = store.unfinished_histories()
    assert [(run.run_id, [e[1] for e in evs]) for run, evs in loaded] == [
        ("b", [1, 2, 3]), ("c", [1, 2, 3]), ("d", [])]  # oldest run first, seq order, no "a"
    assert all(e[0] == run.run_id for run, evs in loaded for e in evs)
    assert loaded[0][1][0] == _event("b", 1)
    store.close()


def test_unfinished_histories_of_many_runs_come_back_whole_and_in_order(
        tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")  # more runs than recovery names one by one
    ids = [f"r{i:03}" for i in range(LISTED_RUNS + 6)]
    store.commit(Batch(events=[_event(r, s) for s in (2, 3, 1) for r in reversed(ids)],
                       new_runs={r: _run(r, "sleeping", float(i)) for i, r in enumerate(ids)}))
    loaded = store.unfinished_histories()
    assert [(run.run_id, [e[1] for e in evs]) for run, evs in loaded] == [
        (r, [1, 2, 3]) for r in ids]
    assert all(e[0] == run.run_id for run, evs in loaded for e in evs)
    store.close()


@pytest.mark.parametrize("count", [3, LISTED_RUNS + 6], ids=["named", "joined"])
def test_histories_of_chosen_runs_come_back_by_run_and_in_order(tmp_path: Path,
                                                                count: int) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    ids = [f"r{i:03}" for i in range(count + 2)]
    store.commit(Batch(events=[_event(r, s) for s in (2, 3, 1) for r in reversed(ids)]))
    chosen = [*ids[1:count], "never-ran"]  # one run left out, one the store never held
    histories = store.load_histories(chosen)
    assert sorted(histories) == sorted(ids[1:count])
    assert all([(e[0], e[1]) for e in events] == [(r, 1), (r, 2), (r, 3)]
               for r, events in histories.items())
    assert histories[ids[1]][0] == _event(ids[1], 1)
    assert store.load_histories([]) == {}
    store.close()


def test_one_runs_history_is_an_index_lookup(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.commit(Batch(events=[_event(f"r{i}", s) for i in range(500) for s in (1, 2)]))
    assert "Index Scan" in _plan(store, "SELECT * FROM events WHERE run_id = 'r7' ORDER BY seq")
    assert [e[1] for e in store.load_events("r7")] == [1, 2]
    store.close()


def test_a_version_2_store_gains_the_events_index(tmp_path: Path) -> None:
    path = tmp_path / "v2.duckdb"
    store = DuckDBStore(path)
    store.commit(Batch(events=[_event("old", 1)]))
    store.close()
    con = duckdb.connect(str(path))  # what a version-2 store looks like: no index yet
    con.execute("DROP INDEX events_run")
    con.execute("UPDATE pw_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    store = DuckDBStore(path)
    assert sorted(store.sql("SELECT index_name FROM duckdb_indexes()").fetchall()) == [
        ("events_run",), ("runs_id",), ("runs_key",)]
    assert store.load_events("old") == [_event("old", 1)]
    assert store.sql("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION),)]
    store.close()


def _plan(store: DuckDBStore, query: str, params: list[object] | None = None) -> str:
    # DuckDB picks the index when it runs the query: only EXPLAIN ANALYZE shows it
    [(_, plan)] = store.sql(f"EXPLAIN ANALYZE {query}", params).fetchall()
    return str(plan)


def test_one_runs_row_is_an_index_lookup(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.commit(Batch(new_runs={f"r{i}": _run(f"r{i}", "completed", float(i))
                                 for i in range(500)}))
    assert "Index Scan" in _plan(store, "SELECT * FROM runs WHERE run_id = 'r7'")
    assert store.get_run("r7") == RunRow(*_run("r7", "completed", 7.0))
    store.close()


def test_a_run_is_found_by_its_idempotency_key_through_the_index(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    rows = {f"r{i}": RunRow(f"r{i}", "wf" if i % 2 else "other", "v1", "completed",
                            idempotency_key=f"k{i // 2}", created_at=float(i),
                            updated_at=float(i)).snapshot() for i in range(500)}
    store.commit(Batch(new_runs=rows))
    found = store.find_run("wf", "k3")  # r6 (other) and r7 (wf) share the key
    assert found is not None and found.run_id == "r7"
    assert store.find_run("other", "k3").run_id == "r6"  # type: ignore[union-attr]
    assert store.find_run("wf", "no-such-key") is None
    assert "Index Scan" in _plan(store, FIND_BY_KEY, ["k3", "wf"])
    store.close()


def test_one_runs_steps_are_an_index_lookup(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    kinds = ["workflow.started", "step.started", "timer.started", "wait.started"]
    store.commit(Batch(events=[_event(f"r{i}", s, kind) for i in range(500)
                               for s, kind in enumerate(kinds, 1)]))
    assert "Index Scan" in _plan(store, "SELECT * FROM steps WHERE run_id = 'r7'")
    assert "Index Scan" in _plan(
        store, "SELECT * FROM steps WHERE run_id = 'r7' AND status = 'running'")
    store.close()


def test_a_step_and_a_timer_with_the_same_id_stay_apart(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.commit(Batch(events=[
        ("r", 1, 1.0, "step.started", "nap#1", 1, "{}"),
        ("r", 2, 2.0, "step.completed", "nap#1", 1, '{"result": 1}'),
        ("r", 3, 3.0, "timer.started", "nap#1", None, '{"until": 9.0}'),
        ("r", 4, 9.0, "timer.fired", "nap#1", None, "{}")]))
    assert store.sql("SELECT step_id, status, result FROM steps").fetchall() == [
        ("nap#1", "completed", "1")]
    assert store.sql("SELECT timer_id, status FROM timers").fetchall() == [("nap#1", "fired")]
    assert store.sql("SELECT count(*) FROM waits").fetchall() == [(0,)]
    store.close()


def test_a_version_7_store_gets_views_that_read_one_run_through_the_index(
        tmp_path: Path) -> None:
    path = tmp_path / "v7.duckdb"
    store = DuckDBStore(path)
    store.commit(Batch(events=[_event(f"r{i}", s) for i in range(500) for s in (1, 2)]))
    store.close()
    con = duckdb.connect(str(path))  # version 7 picked a view's events with WHERE
    con.execute("CREATE OR REPLACE VIEW steps AS SELECT run_id, step AS step_id FROM events "
                "WHERE type LIKE 'step.%' GROUP BY run_id, step")
    con.execute("UPDATE pw_meta SET value = '7' WHERE key = 'schema_version'")
    con.close()
    store = DuckDBStore(path)
    assert "Index Scan" in _plan(store, "SELECT * FROM steps WHERE run_id = 'r7'")
    assert store.sql("SELECT step_id, status FROM steps WHERE run_id = 'r7'").fetchall() == [
        ("s#1", "running")]
    store.close()


def test_an_older_store_opened_read_only_says_to_open_it_for_writing_once(
        tmp_path: Path) -> None:
    path = tmp_path / "v6.duckdb"
    DuckDBStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE pw_meta SET value = '6' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(pw.StoreError, match=r"written by an older pyworkflow_nb \(store schema "
                       r"version 6; this one uses \d+\).*open it once for writing"):
        DuckDBStore(path, read_only=True)
    store = DuckDBStore(path)  # as the message says: then it reads
    store.close()
    DuckDBStore(path, read_only=True).close()


def test_a_version_4_store_gains_forked_from_and_attempt_of_and_keeps_its_runs(
        tmp_path: Path) -> None:
    path = tmp_path / "v4.duckdb"
    store = DuckDBStore(path)
    store.close()
    con = duckdb.connect(str(path))  # what a version-4 store looks like: no forked_from yet
    con.execute("DROP INDEX runs_id")  # (nor the runs indexes of version 8)
    con.execute("DROP INDEX runs_key")
    con.execute("ALTER TABLE runs DROP COLUMN attempt_of")
    con.execute("ALTER TABLE runs DROP COLUMN forked_from")
    con.execute("INSERT INTO runs (run_id, workflow, status, created_at, updated_at) "
                "VALUES ('old', 'wf', 'completed', now(), now())")
    con.execute("UPDATE pw_meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    store = DuckDBStore(path)
    old = store.get_run("old")
    assert old is not None and old.status == "completed" and old.forked_from is None
    row = RunRow("fork", "wf", "v1", "running", forked_from="old", attempt_of="x",
                 created_at=1.0, updated_at=1.0)
    store.commit(Batch(new_runs={"fork": row.snapshot()}))
    assert store.sql("SELECT run_id, forked_from, attempt_of FROM runs ORDER BY run_id"
                     ).fetchall() == [("fork", "old", "x"), ("old", None, None)]
    store.close()
