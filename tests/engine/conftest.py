"""The engine's behaviour tests run on both stores: each test that asks for ``client`` or
``vclient`` (and not for the DuckDB file itself, ``store`` or ``vstore``) runs once on a DuckDB
file and once on a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from stores import configure_store

import pyworkflow_nb as pw
from pyworkflow_nb.runtime import Config, runtime

KINDS = ["duckdb", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    chosen = {"store", "vstore", "any_client", "any_vstore"}  # the test picks its store itself
    if names & {"client", "vclient"} and not names & chosen:
        metafunc.parametrize("store_kind", KINDS, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The kind of store the test runs on: DuckDB unless parametrised."""
    return getattr(request, "param", "duckdb")


@pytest.fixture
def client(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[pw.SyncClient]:
    if store_kind == "duckdb":
        request.getfixturevalue("store")
        yield pw.SyncClient()
        return
    configure_store(request, store_kind, tmp_path, monkeypatch)
    yield pw.SyncClient()
    pw.shutdown()
    runtime.config = Config()


@pytest.fixture
def vclient(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[pw.SyncClient]:
    if store_kind == "duckdb":
        request.getfixturevalue("vstore")
        yield pw.SyncClient()
        return
    configure_store(request, store_kind, tmp_path, monkeypatch)
    pw.use_virtual_clock(datetime(2025, 1, 1, tzinfo=timezone.utc))
    yield pw.SyncClient()
    pw.shutdown()
    pw.use_real_clock()
    runtime.config = Config()
