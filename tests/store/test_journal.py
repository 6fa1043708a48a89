"""The journal as the durable point: its file format, crashes at each point of its life, and a
journal that is not the store's."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from journal_crash_worker import batch as _batch

import pyworkflow_nb as pw
from pyworkflow_nb.store import Batch, DuckDBStore
from pyworkflow_nb.store.journal import Journal, journal_path

WORKER = Path(__file__).with_name("journal_crash_worker.py")
STORE_ID = bytes(range(16))


def _run_ids(path: Path) -> list[str]:
    store = DuckDBStore(path)
    try:
        return [r for (r,) in store.sql("SELECT run_id FROM runs ORDER BY run_id").fetchall()]
    finally:
        store.close()


# -- the file ----------------------------------------------------------------------------------

def test_records_survive_reopening_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, STORE_ID)
    journal.append(1, b"one")
    journal.append(2, b"two" * 100)
    journal.close(remove=False)
    whole = journal.size
    with path.open("r+b") as f:
        f.seek(whole)
        f.write(b"\x05\x00\x00\x00\x03")  # a record header torn by a crash
    reopened = Journal.open(path, STORE_ID)
    assert reopened.recovered == [(1, b"one"), (2, b"two" * 100)]
    assert reopened.size == path.stat().st_size == whole
    reopened.append(3, b"three")
    reopened.close(remove=False)
    assert [p for p, _ in Journal.open(path, STORE_ID).recovered] == [1, 2, 3]


def test_a_record_whose_checksum_fails_is_dropped_with_what_follows(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, STORE_ID)
    journal.append(1, b"kept")
    journal.append(2, b"damaged")
    journal.close(remove=False)
    data = bytearray(path.read_bytes())
    data[journal.size - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert Journal.open(path, STORE_ID).recovered == [(1, b"kept")]


def test_another_stores_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, STORE_ID)
    journal.append(1, b"theirs")
    journal.close(remove=False)
    before = path.read_bytes()
    with pytest.raises(pw.StoreError, match="belongs to another store"):
        Journal.open(path, bytes(16))
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b"hello, world, this is not a journal")
    with pytest.raises(pw.StoreError, match="not a pyworkflow_nb journal"):
        Journal.open(path, STORE_ID)
    assert path.read_bytes() == b"hello, world, this is not a journal"


def test_batches_round_trip_and_a_record_naming_code_is_refused() -> None:
    batch = _batch(7)
    batch.schedules = {"s": None}
    assert Batch.decode(batch.encode()) == batch
    evil = pickle.dumps((os.system, ("true",)))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        Batch.decode(evil)


# -- the store on its journal ------------------------------------------------------------------

def test_a_commit_is_in_the_journal_and_every_read_sees_it(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.commit(_batch(1))
    assert store.behind  # durable in the journal, not yet in DuckDB
    conn = store.cursor()  # a raw connection, as jupysql holds it
    assert conn.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
    store.commit(_batch(2))
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(2,)]
    assert not store.behind
    store.close()


def test_after_close_the_store_is_one_file_again(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    store.commit(_batch(1))
    assert journal_path(str(path)).exists()
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb"]
    assert _run_ids(path) == ["run-1"]


def test_a_journal_copied_from_another_store_is_refused(tmp_path: Path) -> None:
    theirs, mine = tmp_path / "theirs.duckdb", tmp_path / "mine.duckdb"
    DuckDBStore(mine).close()
    _crash(theirs, "after-append")
    journal_path(str(theirs)).rename(journal_path(str(mine)))
    before = journal_path(str(mine)).read_bytes()
    with pytest.raises(pw.StoreError, match="belongs to another store"):
        DuckDBStore(mine)
    assert journal_path(str(mine)).read_bytes() == before
    journal_path(str(mine)).unlink()
    assert _run_ids(mine) == []


def test_records_the_store_holds_are_skipped_and_a_gap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    journal_file = journal_path(str(path))
    _crash(path, "after-append")
    stale = journal_file.read_bytes()  # records 1-3 of this store
    DuckDBStore(path).close()  # folds them in
    journal_file.write_bytes(stale)  # the same records again, as a restored backup brings
    DuckDBStore(path).close()
    assert _run_ids(path) == ["run-1", "run-2", "run-3"]  # nothing applied twice
    journal = Journal.open(journal_file, bytes.fromhex(_store_id(path)))
    journal.append(5, _batch(5).encode())  # record 4 is missing
    journal.close(remove=False)
    before = journal_file.read_bytes()
    with pytest.raises(pw.StoreError, match="does not continue the store"):
        DuckDBStore(path)
    assert journal_file.read_bytes() == before
    journal_file.unlink()
    assert _run_ids(path) == ["run-1", "run-2", "run-3"]


def _store_id(path: Path) -> str:
    store = DuckDBStore(path)
    try:
        value = store.meta("store_id")
        assert value is not None
        return value
    finally:
        store.close()


# -- crashes at each point ---------------------------------------------------------------------

def _crash(path: Path, point: str) -> int:
    """Run the worker to its SIGKILL at ``point``; returns how many commits were acknowledged."""
    done = subprocess.run([sys.executable, str(WORKER), str(path), point],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stdout + done.stderr
    return sum(1 for line in done.stdout.splitlines() if line.startswith("acknowledged"))


@pytest.mark.parametrize("point", ["after-append", "mid-append", "mid-feed", "mid-checkpoint",
                                   "mid-fold"])
def test_a_kill_at_any_point_loses_no_acknowledged_batch(tmp_path: Path, point: str) -> None:
    path = tmp_path / "s.duckdb"
    acknowledged = _crash(path, point)
    assert acknowledged == 3
    assert _run_ids(path) == ["run-1", "run-2", "run-3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb"]


def test_a_read_only_open_after_a_crash_sees_what_was_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _crash(path, "after-append")
    store = DuckDBStore(path, read_only=True)
    try:
        assert store.sql("SELECT count(*) FROM runs").fetchall() == [(3,)]
    finally:
        store.close()
    assert not journal_path(str(path)).exists()
