"""The group-committing writer: what shares a commit, and when what nobody waits for is written."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyworkflow_nb as pw
from pyworkflow_nb.engine.engine import Engine
from pyworkflow_nb.store import DuckDBStore, Writer
from pyworkflow_nb.store.base import Batch
from pyworkflow_nb.store.writer import BATCH_BYTES


class RecordingStore(DuckDBStore):
    """A store that remembers, per commit, the event types and run rows it wrote."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.commits: list[dict[str, Any]] = []

    def commit(self, batch: Batch) -> None:
        self.commits.append({"events": [e[3] for e in batch.events],
                             "new_runs": list(batch.new_runs),
                             "changed_runs": list(batch.changed_runs)})
        super().commit(batch)


@pw.step
async def bump(x: int) -> int:
    return x + 1


@pw.step
async def slow_bump(x: int) -> int:
    await asyncio.sleep(0.1)
    return x + 1


@pw.workflow
async def three_steps(x: int) -> int:
    for _ in range(3):
        x = await bump(x)
    return x


@pw.workflow
async def one_slow_step(x: int) -> int:
    return await slow_bump(x)


async def _run(workflow: Any, *args: Any) -> tuple[Any, RecordingStore]:
    store = RecordingStore()
    engine = Engine(store, asyncio.get_running_loop(), durability="sync")
    row = await engine.start(workflow, args)
    result = await engine.result(row.run_id)
    await engine.close()
    store.close()
    return result, store


def test_sync_run_start_rides_with_its_first_step_result_and_each_step_commits_once() -> None:
    result, store = asyncio.run(_run(three_steps, 0))
    assert result == 3
    commits = [c for c in store.commits if c["events"]]
    step = ["step.started", "step.completed"]
    assert [c["events"] for c in commits] == [
        ["workflow.started", *step], step, step, ["workflow.completed"]]
    assert len(commits[0]["new_runs"]) == 1  # the run's row is in its first commit
    assert len(commits[-1]["changed_runs"]) == 1  # ... and its final state in its last


def test_events_nobody_waits_for_are_committed_soon_without_a_durable_point() -> None:
    result, store = asyncio.run(_run(one_slow_step, 1))
    assert result == 2
    first = next(c for c in store.commits if c["events"])
    # the run and its running step reach the store while the step runs, not when it ends
    assert first["events"] == ["workflow.started", "step.started"]
    assert first["new_runs"]


def test_durable_resolves_at_once_when_nothing_is_pending_and_commits_promptly_otherwise() -> None:
    async def main() -> None:
        store = RecordingStore()
        engine = Engine(store, asyncio.get_running_loop(), durability="sync")
        writer = engine.writer
        await writer.flush()
        assert writer.idle
        done = writer.durable()
        assert done.done()  # nothing appended: nothing to wait for
        before = len(store.commits)
        writer.event(("r", 1, 0.0, "test.event", None, None, "{}"))
        await asyncio.sleep(0)
        assert len(store.commits) == before  # appended, nobody waits: not committed yet
        await asyncio.wait_for(writer.durable(), 1)  # a waiter gets a commit right away
        assert store.commits[-1]["events"] == ["test.event"]
        await engine.close()
        store.close()

    asyncio.run(main())


def test_relaxed_commits_a_large_backlog_and_a_late_one_at_once() -> None:
    """What a crash in relaxed mode loses stays small: a batch holding BATCH_BYTES of data, or
    one older than the interval (a busy loop fires the commit's timer late), is committed at
    the append that tips it, without waiting for the timer."""
    async def main() -> None:
        store = RecordingStore()
        writer = Writer(store, asyncio.get_running_loop(), durability="relaxed", interval=0.005)
        writer.event(("r", 1, 0.0, "test.small", None, None, "{}"))
        assert store.commits == []  # waits for the interval
        large = '"' + "x" * BATCH_BYTES + '"'
        writer.event(("r", 2, 0.0, "test.large", None, None, large))
        assert [c["events"] for c in store.commits] == [["test.small", "test.large"]]
        writer.event(("r", 3, 0.0, "test.early", None, None, "{}"))
        time.sleep(0.01)  # the loop is busy past the interval: its timer has not fired
        writer.event(("r", 4, 0.0, "test.late", None, None, "{}"))
        assert [c["events"] for c in store.commits][-1] == ["test.early", "test.late"]
        await writer.flush()
        writer.close()
        store.close()

    asyncio.run(main())
