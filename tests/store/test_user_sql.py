"""User SQL cannot change the store; pw.purge is the one documented way to remove runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.notebook import store_connection


@pw.workflow
async def sql_sleeper() -> str:
    await pw.sleep("0.3s")
    return "woke"


@pw.workflow
async def sql_quick(n: int) -> int:
    return n


def _counts() -> tuple[int, int]:
    runs = pw.sql("SELECT count(*) FROM runs").fetchall()[0][0]
    events = pw.sql("SELECT count(*) FROM events").fetchall()[0][0]
    return runs, events


@pytest.mark.parametrize("query", [
    "DELETE FROM runs",
    "EXPLAIN ANALYZE DELETE FROM runs",
    "EXPLAIN ANALYZE DROP TABLE events",
    "DROP TABLE events",
    "UPDATE runs SET status = 'completed'",
    "CREATE OR REPLACE VIEW steps AS SELECT 1",
    "SELECT 1; DELETE FROM runs",
    "COPY runs TO 'out.csv'",
    "SET threads = 1",
    "CHECKPOINT",
    "ATTACH 'other.duckdb' AS other",
])
def test_user_sql_refuses_writes_and_the_store_keeps_everything(
        client: pw.SyncClient, query: str) -> None:
    sleeping = client.start(sql_sleeper)
    client.run(sql_quick, 1)
    before = _counts()
    for run_query in (pw.sql, client.sql):
        with pytest.raises(pw.InvalidInput, match="read-only"):
            run_query(query)
    assert _counts() == before
    assert pw.sql("SELECT count(*) FROM steps").fetchall() == [(0,)]  # the views are intact
    assert sleeping.result(timeout=5) == "woke"  # and the sleeping run still resumes
    assert not Path("out.csv").exists() and not Path("other.duckdb").exists()


def test_reads_still_work(client: pw.SyncClient) -> None:
    client.run(sql_quick, 5)
    assert pw.sql("SELECT workflow, result FROM runs").fetchall() == [("sql_quick", "5")]
    assert pw.sql("SELECT count(*) FROM events WHERE run_id = $r",
                  {"r": pw.list_runs()[0].run_id}).fetchall()[0][0] == 2
    assert pw.sql("EXPLAIN SELECT * FROM runs").fetchall()
    assert pw.sql("PRAGMA table_info('runs')").fetchall()[0][1] == "run_id"
    assert pw.sql("DESCRIBE steps").fetchall()


def test_the_connection_for_jupysql_is_read_only(client: pw.SyncClient) -> None:
    client.run(sql_quick, 2)
    con = store_connection()
    assert con.sql("SELECT count(*) FROM runs").fetchall() == [(1,)]
    with pytest.raises(Exception, match="read-only"):
        con.execute("DELETE FROM runs")
    assert _counts()[0] == 1


def _finished_at(run_id: str) -> float:
    return pw.get_run(run_id).row().finished_at or 0.0


def test_purge_removes_old_finished_runs_and_their_events(client: pw.SyncClient) -> None:
    pw.use_virtual_clock("2025-01-01T00:00:00Z")
    try:
        c = pw.SyncClient()
        old = [c.start(sql_quick, i) for i in range(3)]
        for h in old:
            h.result(timeout=5)
        c.skip("40d")
        recent = c.start(sql_quick, 9)
        recent.result(timeout=5)
        waiting = c.start(sql_sleeper)  # unfinished: never purged
        assert c.purge(older_than="30d", status="failed") == 0
        assert c.purge(older_than="30d", workflow="sql_sleeper") == 0
        assert c.purge(older_than="30d") == 3
        remaining = {r for (r,) in pw.sql("SELECT run_id FROM runs").fetchall()}
        assert remaining == {recent.run_id, waiting.run_id}
        assert {r for (r,) in pw.sql("SELECT DISTINCT run_id FROM events "
                                     "WHERE run_id NOT LIKE 'schedule:%'").fetchall()} == remaining
        for h in old:
            with pytest.raises(pw.RunNotFound):
                pw.get_run(h.run_id)
        c.skip("1s")
        assert waiting.result(timeout=5) == "woke"
    finally:
        pw.use_real_clock()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"older_than": "1d", "status": "running"}, "purge removes finished runs only"),
    ({"older_than": "soon"}, "purge older_than"),
])
def test_purge_refuses_bad_input(client: pw.SyncClient, kwargs: dict[str, str],
                                 message: str) -> None:
    client.run(sql_quick, 1)
    with pytest.raises(pw.InvalidInput, match=message):
        client.purge(**kwargs)  # type: ignore[arg-type]
    assert _counts()[0] == 1


@pw.workflow
async def sql_child() -> int:
    return 1


@pw.workflow
async def sql_parent() -> int:
    first = await sql_child()
    return first + await pw.wait_for_event("go")


def test_purge_keeps_the_finished_child_of_an_unfinished_parent(client: pw.SyncClient) -> None:
    parent = client.start(sql_parent)
    deadline = time.time() + 5
    while parent.status() != "waiting":
        assert time.time() < deadline
        time.sleep(0.005)
    assert client.purge(older_than=0) == 0
    parent.send_event("go", 1)
    assert parent.result(timeout=5) == 2
    assert client.purge(older_than=0) == 2


def test_async_purge(store: Path) -> None:
    import asyncio

    pw.SyncClient().run(sql_quick, 3)

    async def go() -> int:
        return await pw.purge(older_than=0)

    assert asyncio.run(go()) == 1
