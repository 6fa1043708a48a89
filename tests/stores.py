"""Opening the default engine on a fresh store of a given kind, for fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pg_server import fresh_database

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

KINDS = ["duckdb", "postgresql"]
VIRTUAL_START = datetime(2025, 1, 1, tzinfo=timezone.utc)  # where virtual-clock tests begin


@contextmanager
def store_of_kind(request: pytest.FixtureRequest, kind: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch, *, virtual: bool = False) -> Iterator[str]:
    """A new store of ``kind`` ("duckdb" or "postgresql") configured for the block, on a
    virtual clock at :data:`VIRTUAL_START` if ``virtual``: its setting. Closed (and back to
    real time) after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYWORKFLOW_NB_STORE", raising=False)
    if kind == "duckdb":
        url = str(tmp_path / "store.duckdb")
    elif "store" in request.fixturenames or "vstore" in request.fixturenames:
        pytest.skip("the test reopens its store as a DuckDB file")
    else:
        pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")
        url = fresh_database(request.getfixturevalue("pg_server"))
    pw.configure(store=url, durability="sync")
    if virtual:
        pw.use_virtual_clock(VIRTUAL_START)
    try:
        yield url
    finally:
        pw.shutdown()
        if virtual:
            pw.use_real_clock()
        runtime.config = Config()
