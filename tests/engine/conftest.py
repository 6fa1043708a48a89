"""The engine's behaviour tests run on both stores: each test that asks for ``client`` or
``vclient`` (and not for the DuckDB file itself, ``store`` or ``vstore``) runs once on a DuckDB
file and once on a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stores import KINDS, store_of_kind

import pyworkflow_nb as pw


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    chosen = {"store", "vstore", "any_client", "any_vstore"}  # the test picks its store itself
    if names & {"client", "vclient"} and not names & chosen:
        metafunc.parametrize("store_kind", KINDS, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The kind of store the test runs on: DuckDB unless parametrised."""
    return getattr(request, "param", "duckdb")


def _client_on(request: pytest.FixtureRequest, kind: str, duckdb_fixture: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, virtual: bool) -> Iterator[pw.SyncClient]:
    """A client on the DuckDB file ``duckdb_fixture`` gives, or on a PostgreSQL database."""
    if kind == "duckdb":
        request.getfixturevalue(duckdb_fixture)
        yield pw.SyncClient()
        return
    with store_of_kind(request, kind, tmp_path, monkeypatch, virtual=virtual):
        yield pw.SyncClient()


@pytest.fixture
def client(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[pw.SyncClient]:
    yield from _client_on(request, store_kind, "store", tmp_path, monkeypatch, virtual=False)


@pytest.fixture
def vclient(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[pw.SyncClient]:
    yield from _client_on(request, store_kind, "vstore", tmp_path, monkeypatch, virtual=True)
