"""``python -m pyworkflow_nb demo``: a small workflow on the default store, narrated."""

from __future__ import annotations

import asyncio
import json
import random

from . import client, definitions, primitives, sync
from .history import vocabulary as ev
from .runtime import runtime
from .store import EventRow


@definitions.step(max_retries=3, retry_delay="0.2s")
async def fetch_page(n: int) -> dict[str, int]:
    """Pretend to fetch a page; the first attempt of page 2 fails."""
    await asyncio.sleep(0.05 + random.random() / 20)
    if n == 2 and not _failed_once.get(n):
        _failed_once[n] = True
        raise ConnectionError("flaky network on page 2")
    return {"page": n, "words": 100 * n}


_failed_once: dict[int, bool] = {}


@definitions.step
def count_words(pages: list[dict[str, int]]) -> int:
    """A plain `def` step: runs in a worker thread."""
    return sum(p["words"] for p in pages)


@definitions.workflow
async def demo_report(pages: int) -> dict[str, object]:
    """Fetch pages concurrently, pause durably, then summarise."""
    fetched = await asyncio.gather(*(fetch_page(n) for n in range(1, pages + 1)))
    await primitives.sleep("0.5s")
    total = await count_words(list(fetched))
    return {"pages": pages, "words": total, "at": primitives.now().isoformat()}


def _narrate(event: EventRow) -> None:
    _, seq, _, type_, step, attempt, data = event
    detail = json.loads(data) if data else {}
    if type_ == ev.STEP_FAILED:
        note = f"error: {detail['error']['message']}" + (
            "" if detail["final"] else " (will retry)")
    elif type_ == ev.STEP_COMPLETED:
        note = f"-> {json.dumps(detail['result'])}"
    elif type_ == ev.TIMER_STARTED:
        note = "sleeping durably"
    else:
        note = ""
    where = f"{step} (attempt {attempt})" if attempt else (step or "")
    print(f"  {seq:>3} {type_:<20} {where:<22} {note}", flush=True)


def main() -> None:
    """Run the demo workflow and print its history and a SQL summary."""
    engine = runtime.ensure()
    print(f"store: {engine.store.path}")
    engine.loop.call_soon_threadsafe(engine.listeners.append, _narrate)
    result = sync.run(demo_report, 3)
    print(f"result: {result}\n")
    print("SQL summary (SELECT name, status, attempts, duration_ms FROM steps ...):")
    handle = client.list_runs(workflow="demo_report", limit=1)[0]
    rows = client.sql(
        "SELECT step_id, status, attempts, duration_ms FROM steps WHERE run_id = ? "
        "ORDER BY started_at", [handle.run_id]).fetchall()
    print(f"  {'step':<14} {'status':<10} {'attempts':>8} {'ms':>6}")
    for step_id, status, attempts, ms in rows:
        print(f"  {step_id:<14} {status:<10} {attempts:>8} {ms:>6}")
    [(runs, done)] = client.sql(
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed') FROM runs "
        "WHERE workflow = 'demo_report'").fetchall()
    print(f"\n{done} of {runs} demo runs in this store completed. "
          "Query it yourself: pw.sql('SELECT * FROM steps')")
    client.shutdown()
