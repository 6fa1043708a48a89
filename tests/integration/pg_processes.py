"""Helpers for the tests where processes share a PostgreSQL store: start a worker, wait for a
condition, read the database as an outside observer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def start_worker(cwd: Path, env: dict[str, str] | None = None,
                 app: str = "app") -> subprocess.Popen[str]:
    """``pyworkflow-nb worker --app APP`` in ``cwd``, its output (stdout and stderr) piped."""
    return subprocess.Popen([sys.executable, "-m", "pyworkflow_nb", "worker", "--app", app],
                            cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def until(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def pg_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query``, read on a connection of its own."""
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute(query).fetchall()


def pg_value(url: str, query: str) -> Any:
    """The first column of ``query``'s single row."""
    rows = pg_rows(url, query)
    assert len(rows) == 1, rows
    return rows[0][0]


def pg_execute(url: str, statement: str) -> None:
    """Run a statement that returns no rows, committed."""
    import psycopg

    with psycopg.connect(url) as con:
        con.execute(statement)
