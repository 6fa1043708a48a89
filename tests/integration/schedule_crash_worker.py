"""A process killed right after the commit that holds a schedule fire, then one recovering.

``fire``: declares an hourly schedule on a virtual clock, arranges for the process to die by
SIGKILL the moment a commit holding ``schedule.fired`` returns, and skips an hour. As the fire
is recorded, a commit is asked for on the next loop turn, as another run's durable point would
ask: the worst moment, when anything the fire leaves for a later turn misses that commit.
``recover``: reopens the store at the fire time and reports what the fire left, as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime, timedelta, timezone

import pyworkflow_nb as pw
from pyworkflow_nb.history import vocabulary as ev
from pyworkflow_nb.store import Batch, DuckDBStore, EventRow, Writer

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pw.step
def tick_step() -> str:
    return "ticked"


@pw.workflow
async def tick() -> str:
    return await tick_step()


def _die_after_the_fire_commits() -> None:
    commit = DuckDBStore.commit

    def commit_then_die(self: DuckDBStore, batch: Batch) -> None:
        commit(self, batch)
        if any(event[3] == ev.SCHEDULE_FIRED for event in batch.events):
            os.kill(os.getpid(), signal.SIGKILL)

    DuckDBStore.commit = commit_then_die  # type: ignore[method-assign]
    event = Writer.event

    def event_then_commit_soon(self: Writer, row: EventRow) -> None:
        event(self, row)
        if row[3] == ev.SCHEDULE_FIRED:
            self.durable()  # someone else waits for a durable point right now

    Writer.event = event_then_commit_soon  # type: ignore[method-assign]


def main(store: str, mode: str) -> None:
    pw.configure(store=store, durability="sync")
    if mode == "fire":
        pw.use_virtual_clock(START)
        pw.schedule(tick, every="1h", schedule_id="hourly")
        _die_after_the_fire_commits()
        pw.SyncClient().skip("1h")
        print("survived the fire", flush=True)
        return
    pw.use_virtual_clock(START + timedelta(hours=1))
    client = pw.SyncClient()
    client.recover()
    runs = client.list_runs()
    report = {
        "runs": [(h.run_id, h.row().schedule_id) for h in runs],
        "results": [h.result(timeout=10) for h in runs],
        "fired": pw.sql("SELECT count(*) FROM events WHERE type = ?",
                        [ev.SCHEDULE_FIRED]).fetchall()[0][0],
        "fire_count": pw.sql("SELECT fire_count FROM schedules").fetchall()[0][0],
    }
    pw.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
