"""Configuring the default engine on a fresh store of a given kind, for fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg_server import fresh_database

import pyworkflow_nb as pw


def configure_store(request: pytest.FixtureRequest, kind: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> str:
    """Configure a new store of ``kind`` ("duckdb" or "postgresql"): its setting."""
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
    return url
