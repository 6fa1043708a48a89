"""The `python -m asyncio` REPL: sync and async calls alike leave it alive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SESSION = """\
import pyworkflow_nb as pw
@pw.step
async def double(n):
    return n * 2

@pw.workflow
async def twice(n):
    return await double(await double(n))

print("sync", pw.run(twice, 5))
print("sync again", pw.run(twice, 6))
h = await pw.start(twice, 7)
print("async", await h.result())
print("alive")
"""


ASYNC_FIRST = """\
import pyworkflow_nb as pw
@pw.workflow
async def one():
    return 1

h = await pw.start(one)
print("async", await h.result())
pw.run(one)
print("alive")
"""


def _repl(session: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYWORKFLOW_NB_STORE": str(tmp_path / "repl.duckdb")}
    return subprocess.run([sys.executable, "-m", "asyncio"], input=session, env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_the_asyncio_repl_survives_sync_and_async_calls(tmp_path: Path) -> None:
    proc = _repl(SESSION, tmp_path)
    shown = proc.stdout + proc.stderr
    assert "sync 20" in proc.stdout, shown
    assert "sync again 24" in proc.stdout, shown
    assert "async 28" in proc.stdout, shown
    assert "alive" in proc.stdout, shown
    assert "Traceback" not in shown and "IndexError" not in shown, shown


def test_a_blocking_call_after_an_async_one_is_refused_and_the_repl_goes_on(
        tmp_path: Path) -> None:
    proc = _repl(ASYNC_FIRST, tmp_path)
    shown = proc.stdout + proc.stderr
    assert "async 1" in proc.stdout, shown
    assert "InvalidInput: a blocking call (pw.run, SyncClient, SyncRunHandle) cannot run on " \
           "the event loop the engine shares" in proc.stderr, shown
    assert "alive" in proc.stdout, shown
    assert "IndexError" not in shown, shown
