"""Every schedule test runs on virtual time, on its own store file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from schedule_helpers import START

import pyworkflow_nb as pw


@pytest.fixture
def vstore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store file and a virtual clock at START; closed and back to real time after."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.duckdb"
    pw.configure(store=str(path), durability="sync")
    pw.use_virtual_clock(START)
    yield path
    pw.shutdown()
    pw.use_real_clock()

