"""Workflows whose recorded histories live in ``histories/`` (record_histories.py writes them).

Names start with ``hist_`` (``Hist``, ``hist-`` for the front-ends) so no other test module
defines a workflow of the same name.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyworkflow_nb as pw
from pyworkflow_nb.compat import cloudflare
from pyworkflow_nb.compat import pyworkflow as pwe
from pyworkflow_nb.compat.durable_workflow import activity as dw_activity
from pyworkflow_nb.compat.durable_workflow import workflow as dw_workflow

executed: list[str] = []
_tries: dict[str, int] = {}


@pw.step
async def hist_a(x: int) -> int:
    executed.append(f"a{x}")
    return x


@pw.step
async def hist_b(x: int) -> int:
    executed.append(f"b{x}")
    return x


@pw.step
async def hist_b2(x: int) -> int:
    executed.append(f"b2_{x}")
    return x * 10


@pw.workflow
async def hist_gather() -> list[int]:
    """The deterministic-core issue's example: a plain asyncio.sleep beside an event wait."""
    async def a() -> int:
        await asyncio.sleep(0.3)
        return await hist_a(1)

    async def b() -> int:
        await hist_b(1)
        y = await pw.wait_for_event("go")
        return await hist_b2(y)

    return list(await asyncio.gather(a(), b()))


@pw.step(max_retries=2, retry_delay="1m")
def hist_flaky(key: str) -> str:
    executed.append(f"flaky-{key}")
    _tries[key] = _tries.get(key, 0) + 1
    if _tries[key] == 1:
        raise ConnectionError("first try fails")
    return key.upper()


@pw.workflow
async def hist_child(n: int) -> int:
    await pw.sleep("1h")
    return await hist_a(n) + 1


@pw.workflow
async def hist_pipeline(key: str) -> dict[str, object]:
    """A bit of everything: a retried step, a child, timers, values, a timeout, an event."""
    fetched = await hist_flaky(key)
    started = pw.now().isoformat()
    bonus = await pw.side_effect(lambda: 7)
    kid, slept = await asyncio.gather(hist_child(2), pw.sleep("30m"))
    try:
        await pw.wait_for_event("never", timeout="10m")
        timed_out = False
    except pw.EventTimeout:
        timed_out = True
    approved = await asyncio.wait_for(pw.wait_for_event("approve"), timeout=3600)
    return {"fetched": fetched, "started": started, "bonus": bonus, "kid": kid,
            "slept": slept, "timed_out": timed_out, "approved": approved}


async def hist_patched_before() -> int:
    """``hist_patched`` before its change (``histories/patched_before.json`` ran this)."""
    x = await hist_a(1)
    return x + await pw.wait_for_event("go")


@pw.workflow
async def hist_patched() -> int:
    """A change behind ``pw.patched``: new runs call hist_b, runs from before keep hist_a."""
    if pw.patched("use-b"):
        x = await hist_b(1)
    else:
        x = await hist_a(1)
    return x + await pw.wait_for_event("go")


@pw.workflow
async def hist_messages() -> dict[str, object]:
    """Signals, an update that awaits a step, and a condition (messages_completed.json)."""
    seen: list[int] = []
    pw.set_signal_handler("add", seen.append)

    async def double(n: int) -> int:
        return await hist_b2(n)

    pw.set_update_handler("double", double)
    await pw.wait_condition(lambda: len(seen) >= 2)
    return {"seen": seen}


@pw.workflow
async def hist_kid_flaky() -> str:
    if "@" not in pw.info().run_id:  # the first child run fails, the retry succeeds
        raise ValueError("first child run fails")
    return await hist_b2(1) and "kid ok"


@pw.workflow
async def hist_child_retry() -> str:
    return await pw.start_child(hist_kid_flaky, retry={"max_retries": 2, "retry_delay": "1m"},
                                timeout="1h")


# -- front-ends: their commands are the engine's, under the names their code gives ------------

class HistCloudflare(cloudflare.WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> dict[str, object]:
        @step.do()
        async def fetch_a() -> int:
            executed.append("fetch_a")
            return 1

        @step.do()
        async def fetch_b() -> int:
            executed.append("fetch_b")
            return 2

        @step.do(concurrent=True)
        async def total(fetch_a: int, fetch_b: int) -> int:
            return fetch_a + fetch_b

        value = await total()
        await step.sleep("wait a day", "1 day")
        approval = await step.wait_for_event("approval", "approved", timeout="2 days")
        return {"total": value, "by": approval["payload"]["by"]}


@dw_activity.defn(name="hist-greet")
async def hist_greet(name: str) -> str:
    executed.append("hist-greet")
    return f"hi {name}"


@dw_workflow.defn(name="hist-generator")
class HistGenerator:
    def __init__(self) -> None:
        self.approved_by: str | None = None

    @dw_workflow.signal("approve")
    def on_approve(self, by: str) -> None:
        self.approved_by = by

    def run(self, ctx: Any, name: str) -> Any:
        greeting = yield ctx.schedule_activity("hist-greet", [name])
        yield ctx.start_timer(60)
        token = yield ctx.side_effect(lambda: "tok-1")
        yield ctx.wait_condition(lambda: self.approved_by is not None)
        return {"greeting": greeting, "token": token, "by": self.approved_by}


@pwe.step(name="hist-charge")
async def hist_charge() -> str:
    executed.append("hist-charge")
    return "charged"


@pwe.workflow(name="hist-shielded")
async def hist_shielded() -> str:
    async with pwe.shield():  # the recorded cancel comes during this sleep
        await pwe.sleep("1h")
        await hist_charge()
    await pwe.sleep("1d")  # ... and lands here
    return "shipped"


@pw.workflow
async def hist_dormant(x: int) -> int:
    """Sleeps long enough to leave memory (dormancy); recorded once it woke and ended."""
    y = await hist_a(x)
    await pw.sleep("2h")
    return await hist_b2(y)


@pw.workflow
async def hist_approval(request: str) -> str:
    """Waits for an event before anything else (approval_started.json ends before the wait)."""
    by = await pw.wait_for_event("approve", timeout="1d")
    return f"{request} approved by {by}"
