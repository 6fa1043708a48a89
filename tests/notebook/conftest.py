"""A real IPython shell with the extension loaded on a fresh store, for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ipyshell import Shell
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config as TraitletsConfig

from pyworkflow_nb.runtime import Config, runtime


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYWORKFLOW_NB_STORE", str(tmp_path / "store.duckdb"))
    runtime.config = Config()
    InteractiveShell.clear_instance()
    config = TraitletsConfig()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    wrapper = Shell(ip)
    wrapper.run("%load_ext pyworkflow_nb")
    wrapper.run("import pyworkflow_nb as pw")
    yield wrapper
    ip.run_cell("%unload_ext pyworkflow_nb")
    InteractiveShell.clear_instance()
    runtime.config = Config()
