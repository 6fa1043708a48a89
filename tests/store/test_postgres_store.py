"""The PostgreSQL store against the DuckDB store: the same writes read back the same way.

Real histories are recorded by the engine on a DuckDB store (retries, sleeps, waits, a child,
a failure, a schedule, a run left waiting), written to a PostgreSQL database as batches, and
every read and view compared. Then what PostgreSQL adds: keys that refuse a second writer of
the same event, and the store's refusals.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pg_server import fresh_database

import pyworkflow_nb as pw
from pyworkflow_nb.errors import InvalidInput
from pyworkflow_nb.runtime import Config, runtime
from pyworkflow_nb.store import Batch, DefinitionRow, DuckDBStore, EventRow, RunRow

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")
from psycopg.types.string import TextLoader  # noqa: E402

from pyworkflow_nb.store.postgres_store import PostgresStore  # noqa: E402

tries = {"n": 0}


@pw.step(max_retries=2, retry_delay="10ms")
async def pg_flaky(x: int) -> int:
    tries["n"] += 1
    if tries["n"] == 1:
        raise ConnectionError("flaky upstream")
    return x * 2


@pw.step(max_retries=0)
async def pg_broken() -> None:
    raise ValueError("always")


@pw.workflow
async def pg_child(x: int) -> int:
    return await pg_flaky(x) + 1


@pw.workflow
async def pg_parent(x: int) -> dict[str, Any]:
    doubled = await pg_flaky(x)
    await pw.sleep("20ms")
    child = await pg_child(x)
    got = await pw.wait_for_event("go", timeout="1h")
    return {"doubled": doubled, "child": child, "got": got}


@pw.workflow
async def pg_fails() -> None:
    await pg_broken()


@pytest.fixture
def server(pg_server: str) -> str:
    return pg_server


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[DuckDBStore]:
    """A DuckDB store holding real histories, open read-only."""
    path = tmp_path / "recorded.duckdb"
    pw.configure(store=str(path))
    try:
        client = pw.SyncClient()
        done = client.start(pg_parent, 3, run_id="parent-1")
        _until(lambda: done.status() == "waiting")
        done.send_event("go", {"by": "ana"})
        done.result()
        waiting = client.start(pg_parent, 4, run_id="parent-2")
        _until(lambda: waiting.status() == "waiting")
        with pytest.raises(pw.WorkflowFailed):
            client.run(pg_fails, run_id="fails-1")
        pw.schedule(pg_child, every="1d", args=[1], schedule_id="daily")
    finally:
        pw.shutdown()
        runtime.config = Config()
    store = DuckDBStore(path, read_only=True)
    yield store
    store.close()


def _until(check: Any) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def everything(store: DuckDBStore) -> Batch:
    """The store's whole content as one batch."""
    runs = store.list_runs(limit=None)
    ids = [r for (r,) in store.sql("SELECT DISTINCT run_id FROM events ORDER BY 1").fetchall()]
    histories = store.load_histories(ids)
    definitions = [DefinitionRow(*row) for row in store.sql(
        "SELECT name, version, kind, module, source, epoch(defined_at) FROM workflows"
    ).fetchall()]
    return Batch(events=[e for run_id in ids for e in histories[run_id]],
                 new_runs={r.run_id: r.snapshot() for r in runs},
                 definitions=definitions,
                 schedules={s.schedule_id: s.snapshot() for s in store.load_schedules()})


def _view(store: DuckDBStore | PostgresStore, view: str) -> list[tuple[Any, ...]]:
    query = f"SELECT * FROM {view} ORDER BY 1, 2"
    if isinstance(store, DuckDBStore):
        rows = store.sql(query).fetchall()
    else:
        with psycopg.connect(store.source) as con:
            con.adapters.register_loader("json", TextLoader)  # JSON as text, as DuckDB gives
            rows = con.execute(query).fetchall()
    return [tuple(_plain(v) for v in row) for row in rows]


def _plain(value: Any) -> Any:
    """JSON text as its value (the two databases format it differently)."""
    if isinstance(value, str) and value[:1] in "{[\"" :
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def test_what_duckdb_holds_reads_back_the_same_from_postgresql(recorded: DuckDBStore,
                                                               server: str) -> None:
    store = PostgresStore(fresh_database(server))
    try:
        store.commit(everything(recorded))
        runs = recorded.list_runs(limit=None)
        assert len(runs) >= 4 and store.list_runs(limit=None) == runs
        assert store.list_runs(workflow="pg_parent", status="waiting", limit=1) == \
            recorded.list_runs(workflow="pg_parent", status="waiting", limit=1)
        for run in runs:
            assert store.get_run(run.run_id) == run
            assert store.load_events(run.run_id) == recorded.load_events(run.run_id)
        assert store.unfinished_histories() == recorded.unfinished_histories()
        assert [r.run_id for r, _ in store.unfinished_histories()] == ["parent-2"]
        assert store.load_histories(["parent-1", "fails-1"]) == \
            recorded.load_histories(["parent-1", "fails-1"])
        assert store.known_versions() == recorded.known_versions()
        assert store.definitions("pg_parent") == recorded.definitions("pg_parent")
        assert store.load_schedules() == recorded.load_schedules()
        assert store.schedule_seqs() == recorded.schedule_seqs()
        assert store.unfinished_work() == recorded.unfinished_work() == (1, 1)
        for view in ("steps", "timers", "waits"):
            ours, theirs = _view(store, view), _view(recorded, view)
            assert len(ours) == len(theirs) > 0, view
            for mine, duck in zip(ours, theirs, strict=True):
                if view == "steps":  # duration_ms: whole milliseconds, rounded either way
                    assert abs((mine[7] or 0) - (duck[7] or 0)) <= 1
                    mine, duck = mine[:7] + mine[8:], duck[:7] + duck[8:]
                assert len(mine) == len(duck), view
                for a, b in zip(mine, duck, strict=True):
                    if isinstance(a, datetime) and isinstance(b, datetime):
                        # from a float epoch: the two databases may round the last microsecond
                        assert abs(a - b) <= timedelta(microseconds=1), view
                    else:
                        assert a == b, view
    finally:
        store.close()


def test_a_second_writer_of_the_same_event_is_refused_whole(recorded: DuckDBStore,
                                                            server: str) -> None:
    store = PostgresStore(fresh_database(server))
    try:
        store.commit(everything(recorded))
        before = store.load_events("parent-2")
        last = before[-1]
        again = Batch(events=[(last[0], last[1] + 1, last[2], "timer.started", "x#1", None,
                               "{}"), last])
        with pytest.raises(pw.StoreError, match="writing to the store"):
            store.commit(again)
        assert store.load_events("parent-2") == before, "nothing of the batch was written"
    finally:
        store.close()


def test_purge_archive_and_meta(recorded: DuckDBStore, server: str) -> None:
    store = PostgresStore(fresh_database(server))
    try:
        store.commit(everything(recorded))
        assert store.purge(["failed"], None, None) == ["fails-1"]
        assert store.get_run("fails-1") is None and store.load_events("fails-1") == []
        children = [r.run_id for r in store.list_runs(limit=None)
                    if r.parent_run_id == "parent-1"]
        store.archive_attempt("parent-1", "parent-1~1")
        assert store.get_run("parent-1") is None
        archived = store.get_run("parent-1~1")
        assert archived is not None and archived.attempt_of == "parent-1"
        for child in children:
            moved = store.get_run(child.replace("parent-1", "parent-1~1", 1))
            assert moved is not None and moved.parent_run_id == "parent-1~1"
        started = [e for e in store.load_events("parent-1~1") if e[3] == "child.started"]
        assert started and all('"parent-1~1/' in e[6] for e in started)
        store.set_meta("clock", "virtual")
        assert store.meta("clock") == "virtual"
        store.set_meta("clock", None)
        assert store.meta("clock") is None
    finally:
        store.close()


def test_refusals_name_the_problem(server: str) -> None:
    foreign = fresh_database(server)
    with psycopg.connect(foreign, autocommit=True) as con:
        con.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(pw.StoreError, match="not a pyworkflow_nb store"):
        PostgresStore(foreign)
    empty = fresh_database(server)
    with pytest.raises(pw.StoreError, match="not initialised and was opened read-only"):
        PostgresStore(empty, read_only=True)
    newer = fresh_database(server)
    PostgresStore(newer).close()
    with psycopg.connect(newer, autocommit=True) as con:
        con.execute("UPDATE pw_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(pw.StoreError, match="newer than this"):
        PostgresStore(newer)
    reader = PostgresStore(fresh_database(server))
    reader.close()
    read_only = PostgresStore(reader.source, read_only=True)
    with pytest.raises(pw.StoreError, match="read-only"):
        read_only.commit(Batch(events=[("r", 1, 0.0, "x", None, None, None)]))
    read_only.close()
    secret = server.replace("pw@", "pw:hunter2@").rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(pw.StoreError) as info:
        PostgresStore(secret)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_a_version_6_store_gains_frames_when_opened(server: str) -> None:
    url = fresh_database(server)
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP VIEW frames")
        con.execute("DROP TABLE frame_tables")
        con.execute("DROP SCHEMA pw_frames")
        con.execute("UPDATE pw_meta SET value = '6' WHERE key = 'schema_version'")
    with pytest.raises(pw.StoreError, match=r"older pyworkflow_nb \(store schema version 6; "
                       r"this one uses 7\).*open it once for writing"):
        PostgresStore(url, read_only=True)
    store = PostgresStore(url)
    try:
        assert store.meta("schema_version") == "7"
        assert store.sql("SELECT run_id, step_id, rows, columns, table_name FROM frames"
                         ).fetchall() == []
        assert store.sql("SELECT count(*) FROM information_schema.schemata "
                         "WHERE schema_name = 'pw_frames'").fetchall() == [(1,)]
    finally:
        store.close()


def test_user_sql_is_read_only_and_takes_the_duckdb_placeholders(recorded: DuckDBStore,
                                                                 server: str) -> None:
    store = PostgresStore(fresh_database(server))
    try:
        store.commit(everything(recorded))
        query = "SELECT count(*) FROM runs WHERE status = ?"
        assert store.sql(query, ["completed"]).fetchall() == \
            recorded.sql(query, ["completed"]).fetchall()
        named = store.sql("SELECT run_id FROM runs WHERE run_id LIKE 'parent%' AND "
                          "workflow = $wf ORDER BY run_id", {"wf": "pg_parent"})
        assert named.fetchall() == [("parent-1",), ("parent-2",)]
        assert list(named.df()["run_id"]) == ["parent-1", "parent-2"]
        with pytest.raises(pw.InvalidInput, match="DELETE refused"):
            store.sql("DELETE FROM runs")
        with pytest.raises(pw.InvalidInput, match="write refused"):  # PostgreSQL refuses it
            store.sql("WITH gone AS (DELETE FROM runs RETURNING 1) SELECT * FROM gone")
        assert len(store.list_runs(limit=None)) == len(recorded.list_runs(limit=None))
    finally:
        store.close()


def test_a_run_on_postgresql_resumes_after_a_restart(pg_server: str, tmp_path: Path) -> None:
    url = fresh_database(pg_server)
    pw.configure(store=url)
    try:
        client = pw.SyncClient()
        handle = client.start(pg_parent, 5, run_id="pg-restart")
        _until(lambda: handle.status() == "waiting")
        pw.shutdown()
        pw.configure(store=url)
        resumed = pw.SyncClient().recover()
        assert "pg-restart" in [h.run_id for h in resumed]  # (its child too, if stopped
        # between its last event and its row's last change)
        again = pw.SyncClient().get_run("pg-restart")
        again.send_event("go", 7)
        assert again.result(timeout="30s") == {"doubled": 10, "child": 11, "got": 7}
        assert [s["status"] for s in again.steps()] == ["completed"]
    finally:
        pw.shutdown()
        runtime.config = Config()


@pw.step
async def pg_quick(i: int) -> int:
    return i


@pw.workflow
async def pg_three() -> int:
    return sum([await pg_quick(i) for i in range(3)])


async def _worst_lag(seconds: float = 0.6) -> float:
    """How late a 10 ms sleep on the running loop wakes, at worst, for ``seconds``."""
    loop, worst = asyncio.get_running_loop(), 0.0
    for _ in range(int(seconds / 0.01)):
        began = loop.time()
        await asyncio.sleep(0.01)
        worst = max(worst, loop.time() - began - 0.01)
    return worst


def test_commits_to_a_far_server_leave_the_loop_free(pg_server: str) -> None:

    pw.configure(store=fresh_database(pg_server))
    try:
        client = pw.SyncClient()
        engine = runtime.ensure()
        commit = engine.store.commit

        def far(batch: Batch) -> None:  # a server 200 ms away
            time.sleep(0.2)
            commit(batch)

        engine.store.commit = far  # type: ignore[method-assign]

        began = time.monotonic()
        lag = asyncio.run_coroutine_threadsafe(_worst_lag(), engine.loop)
        assert client.run(pg_three) == 3
        assert time.monotonic() - began >= 0.6, "each step waited for its far commit"
        assert lag.result(timeout=30) < 0.1, "the loop ran on while commits travelled"
    finally:
        pw.shutdown()
        runtime.config = Config()


def test_calls_on_a_run_another_process_executes_leave_the_loop_free(pg_server: str) -> None:
    pw.configure(store=fresh_database(pg_server))
    try:
        client = pw.SyncClient()
        engine = runtime.ensure()
        handle = client.start(pg_three, executor="workers")  # no worker here takes it
        get_run, load_events = engine.store.get_run, engine.store.load_events

        def far_row(run_id: str) -> RunRow | None:  # a server 200 ms away
            time.sleep(0.2)
            return get_run(run_id)

        def far_events(run_id: str, after: int = -1) -> list[EventRow]:
            time.sleep(0.2)
            return load_events(run_id, after)

        engine.store.get_run = far_row  # type: ignore[method-assign]
        engine.store.load_events = far_events  # type: ignore[method-assign]
        lag = asyncio.run_coroutine_threadsafe(_worst_lag(2.0), engine.loop)  # for all 3 calls
        with pytest.raises(TimeoutError, match="keeps running in another process"):
            handle.result(timeout=0.5)  # polls the run's row
        handle.send_event("go")  # stored in the inbox for the process that takes the run
        with pytest.raises(InvalidInput, match="has no query 'progress'"):
            handle.query("progress")  # replays the stored history here
        assert lag.result(timeout=30) < 0.1, "the loop ran on while the reads travelled"
        with psycopg.connect(engine.store.source) as con:
            assert con.execute("SELECT kind, name FROM inbox").fetchall() == [("event", "go")]
    finally:
        pw.shutdown()
        runtime.config = Config()


def test_copy_store_takes_histories_to_postgresql_and_back(recorded: DuckDBStore,
                                                          pg_server: str, tmp_path: Path) -> None:
    url, back = fresh_database(pg_server), tmp_path / "back.duckdb"
    there = pw.copy_store(recorded.path, url)
    runs = recorded.list_runs(limit=None)
    assert (there.runs, there.schedules) == (len(runs), 1) and there.events > 20
    assert str(there).startswith(f"copied {len(runs)} runs")
    again = pw.copy_store(url, back)
    assert (again.runs, again.events, again.definitions) == \
        (there.runs, there.events, there.definitions)
    copied = DuckDBStore(back, read_only=True)
    try:
        ids = recorded.history_ids()
        assert copied.history_ids() == ids
        assert copied.list_runs(limit=None) == runs
        assert copied.load_histories(ids) == recorded.load_histories(ids)
        assert copied.definitions() == recorded.definitions()
        assert copied.load_schedules() == recorded.load_schedules()
        for view in ("steps", "timers", "waits"):
            assert _view(copied, view) == _view(recorded, view), view
    finally:
        copied.close()

    held = PostgresStore(url, read_only=True)
    try:
        before = len(held.load_histories(ids)["parent-1"])
    finally:
        held.close()
    with pytest.raises(pw.InvalidInput, match=r"already holds .*nothing was copied"):
        pw.copy_store(back, url)
    held = PostgresStore(url, read_only=True)
    try:
        assert len(held.load_histories(ids)["parent-1"]) == before, "nothing added"
    finally:
        held.close()
    with pytest.raises(pw.InvalidInput, match="the source and the target are both"):
        pw.copy_store(url, url)


@pw.step
def pg_sales() -> pd.DataFrame:
    return pd.DataFrame({"region": ["eu", "us", "eu"], "amount": [120.0, 80.5, 42.0],
                         "tier": pd.Categorical(["gold", "basic", "gold"])})


@pw.workflow
async def pg_sales_report() -> int:
    return len(await pg_sales())


def test_copy_store_takes_frame_tables_along_both_ways(pg_server: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source, back, url = tmp_path / "frames.duckdb", tmp_path / "back.duckdb", \
        fresh_database(pg_server)
    pw.configure(store=str(source))
    try:
        handle = pw.SyncClient().start(pg_sales_report)
        assert handle.result(timeout=10) == 3
    finally:
        pw.shutdown()
        runtime.config = Config()
    there = pw.copy_store(source, url)
    assert there.frames == 1 and ", 0 schedules and 1 frames from " in str(there)
    assert pw.copy_store(url, back).frames == 1

    def sales(store: Any) -> list[tuple[Any, ...]]:
        try:
            [(table,)] = store.sql("SELECT table_name FROM frames WHERE run_id = ? AND "
                                   "step_id = 'pg_sales#1'", [handle.run_id]).fetchall()
            return [tuple(row) for row in store.sql(
                f"SELECT region, amount, tier FROM {table} ORDER BY amount").fetchall()]
        finally:
            store.close()

    expected = [("eu", 42.0, "gold"), ("us", 80.5, "basic"), ("eu", 120.0, "gold")]
    assert sales(DuckDBStore(source, read_only=True)) == expected
    assert sales(PostgresStore(url, read_only=True)) == expected
    assert sales(DuckDBStore(back, read_only=True)) == expected


def test_copy_store_refuses_to_write_into_the_store_the_engine_has_open(
        store: Path, client: pw.SyncClient, tmp_path: Path) -> None:
    client.list_runs()  # the engine is up, holding the store
    with pytest.raises(pw.InvalidInput, match="is the store this engine has open"):
        pw.copy_store(tmp_path / "elsewhere.duckdb", store)


def test_a_durable_point_waits_for_a_commit_still_travelling(pg_server: str) -> None:
    from pyworkflow_nb.store.writer import Writer

    store = PostgresStore(fresh_database(pg_server))
    commit = store.commit

    def far(batch: Batch) -> None:
        time.sleep(0.2)
        commit(batch)

    store.commit = far  # type: ignore[method-assign]

    async def main() -> None:
        writer = Writer(store, asyncio.get_running_loop())
        writer.event(("r", 1, 0.0, "x", None, None, None))
        first = writer.durable()
        await asyncio.sleep(0)  # the commit leaves: nothing is appended but it is not in yet
        second = writer.durable()
        assert not second.done(), "nothing new to commit, but the last commit is not in"
        await asyncio.gather(first, second)
        assert [e[1] for e in store.load_events("r")] == [1]
        writer.close()

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_password_in_the_url_stays_out_of_messages(pg_server: str) -> None:
    url = fresh_database(pg_server).replace("pw@", "pw:hunter2@")  # trust: any password
    store = PostgresStore(url)
    assert store.source == url and "hunter2" not in store.path and ":***@" in store.path
    store.close()
    pw.configure(store=url)
    try:
        engine = runtime.ensure()
        assert runtime.ensure() is engine, "the same setting keeps the same store"
        with pytest.raises(pw.RunNotFound) as info:
            pw.SyncClient().get_run("nope")
        assert "hunter2" not in str(info.value)
    finally:
        pw.shutdown()
        runtime.config = Config()
