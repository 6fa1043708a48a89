"""Shared fixtures: every test gets its own real DuckDB store file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import postgres
from stores import KINDS, VIRTUAL_START, store_of_kind

import pyworkflow_nb as pw
from pyworkflow_nb.definitions import registry
from pyworkflow_nb.runtime import Config, runtime


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store file for the default engine, closed after the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYWORKFLOW_NB_STORE", raising=False)
    path = tmp_path / "store.duckdb"
    pw.configure(store=str(path), durability="sync")
    yield path
    pw.shutdown()
    runtime.config = Config()


@pytest.fixture
def vstore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store file on a virtual clock at 2025-01-01 UTC; closed and back to real time after."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.duckdb"
    pw.configure(store=str(path), durability="sync")
    pw.use_virtual_clock(VIRTUAL_START)
    yield path
    pw.shutdown()
    pw.use_real_clock()


@pytest.fixture
def vclient(vstore: Path) -> pw.SyncClient:
    """A sync client on the virtual-clock store."""
    return pw.SyncClient()


@pytest.fixture
def client(store: Path) -> pw.SyncClient:
    return pw.SyncClient()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the session (see pg_server.py); its maintenance URL."""
    with postgres() as url:
        yield url


@pytest.fixture(params=KINDS)
def any_client(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[pw.SyncClient]:
    """A sync client on a fresh store of each kind: a DuckDB file, a PostgreSQL database."""
    with store_of_kind(request, request.param, tmp_path, monkeypatch):
        yield pw.SyncClient()


@pytest.fixture(params=KINDS)
def any_vstore(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh store of each kind on a virtual clock at 2025-01-01 UTC (as ``vstore``); its
    setting. Closed and back to real time after."""
    with store_of_kind(request, request.param, tmp_path, monkeypatch, virtual=True) as url:
        yield url


@pytest.fixture
def any_vclient(any_vstore: str) -> pw.SyncClient:
    """A sync client on ``any_vstore``."""
    return pw.SyncClient()


@pytest.fixture
def restore_definitions() -> Iterator[None]:
    """Put back, after the test, every workflow and step definition the test redefined."""
    workflows, steps = dict(registry.workflows), dict(registry.steps)
    yield
    for table, saved in ((registry.workflows, workflows), (registry.steps, steps)):
        for name, definition in saved.items():
            if table.get(name) is not definition:
                registry.add(definition)
