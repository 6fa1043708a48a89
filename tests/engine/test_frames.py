"""DataFrames that steps return: rows SQL can read, values that round-trip exactly."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from waiting import wait_status

import pyworkflow_nb as pw
from pyworkflow_nb.store import frames
from pyworkflow_nb.store.duckdb_store import SCHEMA_VERSION

ORDERS = pd.DataFrame({
    "order_id": [101, 102, 103],
    "customer": ["ana", "bo", None],
    "amount": [12.5, float("nan"), 7.25],
    "placed": pd.to_datetime(["2025-01-01 09:00", "2025-01-02 10:30", "2025-01-03 11:45"],
                             utc=True),
    "tier": pd.Categorical(["gold", "basic", "gold"]),
}, index=pd.Index(["a", "b", "c"], name="key"))


@pw.step
def load_orders() -> pd.DataFrame:
    return ORDERS.copy()


@pw.step
def big_orders(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[orders["amount"] > 10]


@pw.workflow
async def frame_report() -> pd.DataFrame:
    orders = await load_orders()
    return await big_orders(orders)


@pw.step
def odd_frame() -> pd.DataFrame:
    return pd.DataFrame({"values": [{1, 2}, (3,)]})


@pw.step
def complex_frame() -> pd.DataFrame:
    return pd.DataFrame({"z": [complex(1, 2)]})


@pw.workflow
async def odd_report() -> int:
    return len(await odd_frame()) + len(await complex_frame())


@pw.workflow
async def frame_then_wait() -> int:
    orders = await load_orders()
    await pw.wait_for_event("go")
    return len(orders)


def test_sql_reads_a_frames_rows_and_the_value_round_trips_exactly(
        client: pw.SyncClient, store: Path) -> None:
    h = client.start(frame_report)
    result = h.result(timeout=10)
    pd.testing.assert_frame_equal(result, ORDERS[ORDERS["amount"] > 10])
    rows = pw.sql("SELECT order_id, customer, amount, tier FROM step_frame(?, 'load_orders') "
                  "ORDER BY order_id", [h.run_id]).fetchall()
    assert rows[0] == (101, "ana", 12.5, "gold") and rows[2] == (103, None, 7.25, "gold")
    assert pw.sql("SELECT count(*) FROM step_frame(?, 'big_orders#1')",
                  [h.run_id]).fetchall() == [(1,)]
    assert pw.sql("SELECT step_id, rows, columns FROM frames WHERE run_id = ? "
                  "ORDER BY step_id", [h.run_id]).fetchall() == [
        ("big_orders#1", 1, 5), ("load_orders#1", 3, 5)]
    # joins with the public views like any table
    joined = pw.sql("SELECT s.name, sum(f.amount) FROM steps s, step_frame(?, 'load_orders') f "
                    "WHERE s.run_id = ? AND s.step_id = 'load_orders#1' GROUP BY s.name",
                    [h.run_id, h.run_id]).fetchall()
    assert joined == [("load_orders", 19.75)]
    pw.shutdown()  # reopened, the recorded result is still the exact frame
    pw.configure(store=str(store))
    pd.testing.assert_frame_equal(pw.SyncClient().get_run(h.run_id).result(),
                                  ORDERS[ORDERS["amount"] > 10])


def test_a_run_that_resumes_after_a_restart_keeps_its_frame(store: Path) -> None:
    h = pw.SyncClient().start(frame_then_wait)
    wait_status(h, "waiting")
    pw.shutdown()
    pw.configure(store=str(store))
    client = pw.SyncClient()
    client.recover()
    client.get_run(h.run_id).send_event("go")
    assert client.get_run(h.run_id).result(timeout=10) == 3
    assert pw.sql("SELECT count(*) FROM step_frame(?, 'load_orders')",
                  [h.run_id]).fetchall() == [(3,)]


def test_a_version_5_store_gains_frames_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "v5.duckdb"
    pw.configure(store=str(path))
    try:
        pw.SyncClient().run(frame_report)
    finally:
        pw.shutdown()
    con = duckdb.connect(str(path))
    con.execute("DROP MACRO TABLE step_frame")
    con.execute("DROP VIEW frames")
    con.execute("DROP SCHEMA pw_frames CASCADE")
    con.execute("UPDATE pw_meta SET value = '5' WHERE key = 'schema_version'")
    con.close()
    pw.configure(store=str(path))
    try:
        h = pw.SyncClient().start(frame_report)
        h.result(timeout=10)
        assert pw.sql("SELECT count(*) FROM step_frame(?, 'load_orders')",
                      [h.run_id]).fetchall() == [(3,)]
        assert pw.sql("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)]
        assert pw.sql("SELECT table_name FROM frames WHERE run_id = ? AND step_id = ?",
                      [h.run_id, "load_orders#1"]).fetchall() == [
            (f'pw_frames."{h.run_id}/load_orders#1"',)]
    finally:
        pw.shutdown()


def _table_of(run_id: str, step_id: str) -> str:
    """The table the ``frames`` view names for a step's frame."""
    ((table,),) = pw.sql("SELECT table_name FROM frames WHERE run_id = ? AND step_id = ?",
                         [run_id, step_id]).fetchall()
    return str(table)


def test_frames_names_the_table_sql_reads_on_either_store(any_client: pw.SyncClient) -> None:
    h = any_client.start(frame_report)
    pd.testing.assert_frame_equal(h.result(timeout=10), ORDERS[ORDERS["amount"] > 10])
    assert pw.sql("SELECT step_id, rows, columns FROM frames WHERE run_id = ? "
                  "ORDER BY step_id", [h.run_id]).fetchall() == [
        ("big_orders#1", 1, 5), ("load_orders#1", 3, 5)]
    table = _table_of(h.run_id, "load_orders#1")
    rows = pw.sql(f"SELECT order_id, customer, amount, placed, tier FROM {table} "
                  "ORDER BY order_id").fetchall()
    assert [(i, c, a, t) for i, c, a, _, t in rows] == [
        (101, "ana", 12.5, "gold"), (102, "bo", None, "basic"), (103, None, 7.25, "gold")]
    assert [placed.astimezone(timezone.utc) for *_, placed, _ in rows] == list(ORDERS["placed"])
    joined = pw.sql(f"SELECT s.name, sum(f.amount) FROM steps s, {table} f WHERE s.run_id = ? "
                    "AND s.step_id = 'load_orders#1' GROUP BY s.name", [h.run_id]).fetchall()
    assert joined == [("load_orders", 19.75)]


def test_a_frame_the_store_cannot_hold_costs_only_its_table(
        any_client: pw.SyncClient, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with caplog.at_level(logging.WARNING, logger="pyworkflow_nb.frames"):
        h = any_client.start(odd_report)
        assert h.result(timeout=10) == 3
    # python objects the store has no type for become their text; a complex column is refused
    assert pw.sql(f"SELECT * FROM {_table_of(h.run_id, 'odd_frame#1')}").fetchall() == [
        ("{1, 2}",), ("(3,)",)]
    assert "the frame of step complex_frame#1 of run" in caplog.text
    assert "could not be written as a table" in caplog.text
    assert pw.sql("SELECT step_id FROM frames WHERE run_id = ?", [h.run_id]).fetchall() == [
        ("odd_frame#1",)]
    caplog.clear()
    monkeypatch.setattr(frames, "ROW_LIMIT", 2)
    with caplog.at_level(logging.WARNING, logger="pyworkflow_nb.frames"):
        h = any_client.start(frame_report)
        assert len(h.result(timeout=10)) == 1
    assert "the frame of step load_orders#1 of run" in caplog.text
    assert "has 3 rows, over the 2 a table is written for" in caplog.text
    assert pw.sql("SELECT step_id FROM frames WHERE run_id = ?", [h.run_id]).fetchall() == [
        ("big_orders#1",)]


def test_restart_keeps_the_earlier_attempts_frames_and_purge_drops_them(
        any_client: pw.SyncClient) -> None:
    h = any_client.start(frame_report, run_id="report-1")
    h.result(timeout=10)
    h.restart("again")
    h.result(timeout=10)
    listed = pw.sql("SELECT run_id, step_id FROM frames ORDER BY run_id, step_id").fetchall()
    assert listed == [("report-1", "big_orders#1"), ("report-1", "load_orders#1"),
                      ("report-1~1", "big_orders#1"), ("report-1~1", "load_orders#1")]
    earlier = _table_of("report-1~1", "load_orders#1")
    assert pw.sql(f"SELECT count(*) FROM {earlier}").fetchall() == [(3,)]
    assert any_client.purge(older_than=0) == 2
    assert pw.sql("SELECT count(*) FROM frames").fetchall() == [(0,)]
    assert pw.sql("SELECT count(*) FROM information_schema.tables "
                  "WHERE table_schema = 'pw_frames'").fetchall() == [(0,)]


def test_user_sql_cannot_write_frames(any_client: pw.SyncClient) -> None:
    h = any_client.start(frame_report)
    h.result(timeout=10)
    table = _table_of(h.run_id, "load_orders#1")
    for statement in (f"DELETE FROM {table}", f"DROP TABLE {table}",
                      "CREATE TABLE pw_frames.mine AS SELECT 1"):
        with pytest.raises(pw.InvalidInput, match="user SQL is read-only"):
            pw.sql(statement)
    assert pw.sql(f"SELECT count(*) FROM {table}").fetchall() == [(3,)]


@pw.step
def typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "small": pd.array([1, 2, 3], dtype="int32"),
        "huge": np.array([2**64 - 1, 0, 1], dtype=np.uint64),
        "maybe": pd.array([1, None, 3], dtype="Int64"),
        "ratio": pd.array([0.5, 1.5, float("nan")], dtype="float32"),
        "flag": [True, False, True],
        "when": pd.to_datetime(["2025-01-01 08:00", None, "2025-01-03 00:00"]),
        "took": pd.to_timedelta(["1s", "2min", None]),
        "day": [date(2025, 1, 1), None, date(2025, 1, 3)],
        "price": [Decimal("1.10"), Decimal("2.20"), None],
        "blob": [b"\x00a", b"b", None],
        "big": [2**70, 1, None],
        "text": ["a", None, "c"],
        "grade": pd.Categorical([1, None, 3]),
    })


@pw.step
def twice_named() -> pd.DataFrame:
    return pd.DataFrame([[1, 2]], columns=["a", "a"])


@pw.step
def long_named() -> pd.DataFrame:
    return pd.DataFrame({"c" * 64: [1]})


@pw.workflow
async def typed_report() -> int:
    return len(await typed_frame()) + len(await twice_named()) + len(await long_named())


@pytest.mark.parametrize("any_client", ["postgresql"], indirect=True)
def test_postgresql_frame_tables_take_each_columns_type_under_any_run_id(
        any_client: pw.SyncClient, caplog: pytest.LogCaptureFixture) -> None:
    run_id = "a-run-id-longer-than-the-63-bytes-postgresql-allows-in-a-name-" * 2
    with caplog.at_level(logging.WARNING, logger="pyworkflow_nb.frames"):
        assert any_client.start(typed_report, run_id=run_id).result(timeout=10) == 5
    table = _table_of(run_id, "typed_frame#1")
    schema, name = table.split(".")
    types = pw.sql("SELECT column_name, data_type FROM information_schema.columns "
                   "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                   [schema, name]).fetchall()
    assert types == [
        ("small", "integer"), ("huge", "numeric"), ("maybe", "bigint"), ("ratio", "real"),
        ("flag", "boolean"), ("when", "timestamp without time zone"), ("took", "interval"),
        ("day", "date"), ("price", "numeric"), ("blob", "bytea"), ("big", "numeric"),
        ("text", "text"), ("grade", "bigint")]
    rows = pw.sql(f"SELECT * FROM {table} ORDER BY small").fetchall()
    assert rows[0] == (1, 2**64 - 1, 1, 0.5, True, datetime(2025, 1, 1, 8), timedelta(seconds=1),
                       date(2025, 1, 1), Decimal("1.10"), b"\x00a", 2**70, "a", 1)
    assert rows[1] == (2, 0, None, 1.5, False, None, timedelta(minutes=2), None,
                       Decimal("2.20"), b"b", 1, None, None)
    assert rows[2][3] is None and rows[2][6] is None  # NaN and NaT are NULL, as on DuckDB
    assert "column name 'a' appears more than once" in caplog.text
    assert f"column name {'c' * 64!r} is longer than the 63 bytes PostgreSQL allows" in \
        caplog.text
    assert pw.sql("SELECT step_id FROM frames WHERE run_id = ?", [run_id]).fetchall() == [
        ("typed_frame#1",)]
