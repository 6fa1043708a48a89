"""Bad input, one row each: the call, the error it gets, a phrase of its message, and a store
that holds exactly what it held before. The next bad input found is one more row."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyworkflow_nb as pw
from pyworkflow_nb.compat import cloudflare
from pyworkflow_nb.compat import durable_workflow as dw
from pyworkflow_nb.compat import pyworkflow as pwe
from pyworkflow_nb.durations import parse_duration, parse_instant
from pyworkflow_nb.engine.scheduler import ScheduleSpec


@pw.workflow
async def bad_input_target(a: int, b: int = 1) -> int:
    return a + b


@pw.workflow
async def bad_input_waiter() -> str:
    return str(await pw.wait_for_event("go"))


class BadInputEntry(cloudflare.WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> None:
        return None


@dw.workflow.defn(name="bad-input-dw")
class BadInputGenerator:
    def run(self, ctx: Any) -> Any:
        yield ctx.start_timer(1)


CF_ENV = cloudflare.Env(ENTRY=BadInputEntry)


class World:
    """A store holding one finished and one waiting run, and the handles to poke at."""

    def __init__(self, client: pw.SyncClient) -> None:
        self.client = client
        self.done = client.start(bad_input_target, 1)
        self.done.result(timeout=5)
        self.waiting = client.start(bad_input_waiter)

    def counts(self) -> tuple[int, ...]:
        return tuple(pw.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                     for t in ("runs", "events", "schedules"))


@pytest.fixture
def world(client: pw.SyncClient) -> Iterator[World]:
    yield World(client)


Call = Callable[[World], Any]
ROWS: list[tuple[str, Call, type[BaseException], str]] = [
    ("list_runs unknown status", lambda w: pw.list_runs(status="complete"),
     pw.InvalidInput, "unknown run status 'complete': use one of pending, running"),
    ("list_runs negative limit", lambda w: pw.list_runs(limit=-1),
     pw.InvalidInput, "limit must be a whole number >= 1"),
    ("list_runs zero limit", lambda w: w.client.list_runs(limit=0),
     pw.InvalidInput, "limit must be a whole number >= 1"),
    ("configure store not a path", lambda w: pw.configure(store=123),  # type: ignore[arg-type]
     pw.InvalidInput, 'store must be a file path, ":memory:" or a postgresql:// URL, got 123'),
    ("configure bad durability", lambda w: pw.configure(durability="fast"),
     pw.InvalidInput, 'durability must be "sync" or "relaxed"'),
    ("configure zero concurrency", lambda w: pw.configure(concurrency=0),
     pw.InvalidInput, "concurrency must be an int >= 1, got 0"),
    ("configure unknown executor", lambda w: pw.configure(executor="cloud"),
     pw.InvalidInput, 'executor must be "here" or "workers", got \'cloud\''),
    ("start for workers on DuckDB", lambda w: w.client.start(bad_input_target, 1,
                                                              executor="workers"),
     pw.InvalidInput, 'executor="workers" needs a store that worker processes share'),
    ("configure short lease", lambda w: pw.configure(lease="200ms"),
     pw.InvalidInput, "lease must be at least 1 s (it is renewed every third of it), "
                      "got '200ms'"),
    ("configure lease not a duration", lambda w: pw.configure(lease="soon"),
     pw.InvalidInput, "invalid lease 'soon': expected a duration like"),
    ("start too many arguments", lambda w: w.client.start(bad_input_target, 1, 2, 3),
     pw.InvalidInput, "too many positional arguments; it takes bad_input_target(a, b=1)"),
    ("start unknown keyword", lambda w: w.client.start(bad_input_target, 1, c=3),
     pw.InvalidInput, "unexpected keyword argument 'c'"),
    ("start missing argument", lambda w: w.client.start(bad_input_target),
     pw.InvalidInput, "missing a required argument: 'a'"),
    ("start unstorable argument",
     lambda w: w.client.start(bad_input_target, 1, b=threading.Lock()),  # type: ignore[arg-type]
     pw.SerializationError, "argument b= of workflow 'bad_input_target': value of type "
                            "_thread.lock"),
    ("start not a workflow", lambda w: w.client.start(print),  # type: ignore[arg-type]
     pw.InvalidInput, "expected a @pw.workflow function"),
    ("start unknown workflow name", lambda w: w.client.start("no_such_workflow"),
     pw.InvalidInput, "no workflow named 'no_such_workflow'"),
    ("start empty run id", lambda w: w.client.start(bad_input_target, 1, run_id=""),
     pw.InvalidInput, "run_id must be a non-empty string"),
    ("start run id of another workflow",
     lambda w: w.client.start(bad_input_waiter, run_id=w.done.run_id),
     pw.InvalidInput, "already belongs to a run of workflow 'bad_input_target'"),
    ("send empty event name", lambda w: w.waiting.send_event(""),
     pw.InvalidInput, "an event name must be a non-empty string"),
    ("send to a finished run", lambda w: w.done.send_event("go"),
     pw.InvalidInput, "events can only be sent to unfinished runs"),
    ("get unknown run", lambda w: pw.get_run("no-such-run"),
     pw.RunNotFound, "no-such-run"),
    ("retry a completed run", lambda w: w.done.retry(),
     pw.InvalidInput, "only failed runs can be retried"),
    ("fork from a step the run lacks", lambda w: w.done.fork("fetch#1"),
     pw.InvalidInput, "has no step 'fetch#1' to fork from; its steps: none yet"),
    ("fork with an empty step", lambda w: w.done.fork(""),
     pw.InvalidInput, "from_step must name a step of the run"),
    ("restart with a reason that is no string", lambda w: w.done.restart(3),  # type: ignore
     pw.InvalidInput, "restart(reason=...) must be a string or None"),
    ("restart an unknown run", lambda w: w.client.get_run("gone").restart(),
     pw.RunNotFound, "gone"),
    ("pause a finished run", lambda w: w.done.pause(),
     pw.InvalidInput, "already ended (completed)"),
    ("update a finished run", lambda w: w.done.update("discount", 10),
     pw.InvalidInput, "already ended (completed)"),
    ("signal with an unstorable payload",
     lambda w: w.waiting.signal("add", threading.Lock()),
     pw.SerializationError, "the arguments of signal 'add'"),
    ("query a name the run lacks", lambda w: w.waiting.query("items"),
     pw.InvalidInput, "has no query 'items'; its queries: none"),
    ("sql write", lambda w: pw.sql("DELETE FROM runs"),
     pw.InvalidInput, "read-only"),
    ("sql write through explain analyze", lambda w: pw.sql("EXPLAIN ANALYZE DELETE FROM runs"),
     pw.InvalidInput, "read-only"),
    ("purge unfinished status", lambda w: w.client.purge(older_than="1d", status="waiting"),
     pw.InvalidInput, "purge removes finished runs only"),
    ("purge bad age", lambda w: w.client.purge(older_than="soon"),
     pw.InvalidInput, "invalid purge older_than"),
    ("schedule six-field cron",
     lambda w: pw.schedule(bad_input_target, cron="0 0 9 * * 1", args=[1]),
     pw.InvalidInput, "expected five fields"),
    ("schedule sub-second interval",
     lambda w: pw.schedule(bad_input_target, every="300ms", args=[1]),
     pw.InvalidInput, "every= must be at least 1 second"),
    ("schedule unknown timezone",
     lambda w: pw.schedule(bad_input_target, cron="0 9 * * *", timezone="Mars/Base", args=[1]),
     pw.InvalidInput, "unknown timezone 'Mars/Base'"),
    ("skip negative", lambda w: pw.skip("-3d"),
     pw.InvalidInput, "skip duration must not be negative"),
    ("replayer without workflows", lambda w: pw.Replayer([]),
     pw.InvalidInput, "needs at least one workflow"),
    ("replay a missing file", lambda w: pw.Replayer([bad_input_target]).replay("gone.json"),
     pw.InvalidInput, "no history file gone.json"),
    ("metric unknown name", lambda w: pw.metrics().value("runs_done_total"),
     pw.InvalidInput, "no metric named 'runs_done_total'; the metrics are: commit_duration"),
    ("on_metric not a function", lambda w: pw.on_metric("print"),  # type: ignore[arg-type]
     pw.InvalidInput, "on_metric needs a function (name, value, labels), got 'print'"),
    ("serve_metrics bad port", lambda w: pw.serve_metrics(port=70000),
     pw.InvalidInput, "serve_metrics(port=...) must be a port number 0-65535, got 70000"),
    ("cloudflare create with a taken id",
     lambda w: asyncio.run(CF_ENV.ENTRY.create(id=w.done.run_id)),
     pw.InvalidInput, "already exists; choose another id, or get() it"),
    ("cloudflare create with unknown options",
     lambda w: asyncio.run(CF_ENV.ENTRY.create({"id": "x", "param": 1})),
     pw.InvalidInput, "create() takes id= and params= (or one dict of them)"),
    ("cloudflare create_batch repeating an id",
     lambda w: asyncio.run(CF_ENV.ENTRY.create_batch([{"id": "a"}, {"id": "a"}])),
     pw.InvalidInput, "create_batch repeats the instance id(s) a"),
    ("durable_workflow start of an unknown type",
     lambda w: asyncio.run(dw.Client().start_workflow("no-such-type")),
     dw.WorkflowNotFound, "no workflow type 'no-such-type' is registered"),
    ("durable_workflow start with a taken id",
     lambda w: asyncio.run(dw.Client().start_workflow("bad-input-dw",
                                                      workflow_id=w.done.run_id)),
     dw.WorkflowAlreadyStarted, "already exists"),
    ("durable_workflow schedule without a spec",
     lambda w: asyncio.run(dw.Client().create_schedule(
         "s", dw.ScheduleSpec(), dw.ScheduleAction("bad-input-dw"))),
     pw.InvalidInput, "a ScheduleSpec needs cron_expressions or intervals"),
    ("durable_workflow schedule with an unknown overlap",
     lambda w: asyncio.run(dw.Client().create_schedule(
         "s", dw.ScheduleSpec(["0 * * * *"]), dw.ScheduleAction("bad-input-dw"),
         overlap_policy="sometimes")),
     pw.InvalidInput, "overlap_policy must be one of skip"),
    ("durable_workflow start on a blank task queue",
     lambda w: asyncio.run(dw.Client().start_workflow("bad-input-dw", task_queue=" ")),
     pw.InvalidInput, "start_workflow needs a task queue name (a non-empty string), got ' '"),
    ("durable_workflow worker of no task queue",
     lambda w: dw.Worker(dw.Client(), task_queue=None),  # type: ignore[arg-type]
     pw.InvalidInput, "Worker needs a task queue name"),
    ("durable_workflow start with a run timeout of zero",
     lambda w: asyncio.run(dw.Client().start_workflow("bad-input-dw", run_timeout_seconds=0)),
     pw.InvalidInput, "start_workflow(run_timeout_seconds=...) takes a positive number"),
    ("pyworkflow start of a plain function",
     lambda w: asyncio.run(pwe.start(len, "x")),
     pw.DefinitionError, "start() takes a @workflow function or a Workflow subclass"),
    ("pyworkflow resume_hook with no token",
     lambda w: asyncio.run(pwe.resume_hook("no-colon", {})),
     pwe.InvalidTokenError, "Invalid token for hook: no-colon"),
    ("pyworkflow resume_hook of a run with no such hook",
     lambda w: asyncio.run(pwe.resume_hook(f"{w.waiting.run_id}:hook_approval_1", {})),
     pwe.HookNotFoundError, "Hook not found for token"),
    ("pyworkflow schedule with TERMINATE_OTHER",
     lambda w: asyncio.run(pwe.create_schedule(bad_input_target, pwe.ScheduleSpec(
         interval="1h"), overlap_policy=pwe.OverlapPolicy.TERMINATE_OTHER)),
     pw.InvalidInput, "OverlapPolicy.TERMINATE_OTHER is not available here"),
    ("pyworkflow schedule with an empty spec",
     lambda w: asyncio.run(pwe.create_schedule(bad_input_target, pwe.ScheduleSpec())),
     pw.InvalidInput, "a ScheduleSpec needs cron=, interval= or calendar=[...]"),
    ("pyworkflow configure with an unknown option",
     lambda w: pwe.configure(broker_url="redis://"),
     pw.InvalidInput, "configure() got unknown option(s) broker_url"),
    ("durable_workflow schedule on a blank task queue",
     lambda w: asyncio.run(dw.Client().create_schedule(
         "s", dw.ScheduleSpec(["0 * * * *"]), dw.ScheduleAction("bad-input-dw", ""))),
     pw.InvalidInput, "ScheduleAction needs a task queue name"),
]


@pytest.mark.parametrize(("call", "error", "phrase"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_bad_input_gets_a_clear_error_and_changes_nothing(
        world: World, call: Call, error: type[BaseException], phrase: str) -> None:
    before = world.counts()
    with pytest.raises(error) as info:
        call(world)
    assert phrase in str(info.value)
    assert world.counts() == before
    world.waiting.send_event("go", "still alive")
    assert world.waiting.result(timeout=5) == "still alive"


READ_ONLY_ROWS: list[tuple[str, Call]] = [
    ("run", lambda w: pw.run(bad_input_target, 1)),
    ("start", lambda w: pw.SyncClient().start(bad_input_target, 1)),
    ("send_event", lambda w: pw.SyncClient().get_run(w.waiting.run_id).send_event("go")),
    ("cancel", lambda w: pw.SyncClient().get_run(w.waiting.run_id).cancel()),
    ("schedule", lambda w: pw.schedule(bad_input_target, every="1h", args=[1])),
    ("purge", lambda w: pw.SyncClient().purge(older_than=0)),
]


@pytest.mark.parametrize("call", [r[1] for r in READ_ONLY_ROWS],
                         ids=[r[0] for r in READ_ONLY_ROWS])
def test_a_read_only_store_refuses_changes_at_the_call(world: World, store: Path,
                                                       call: Call) -> None:
    before = world.counts()
    pw.shutdown()
    pw.configure(store=str(store), read_only=True)
    with pytest.raises(pw.InvalidInput, match="open read-only"):
        call(world)
    pw.shutdown()  # nothing was left to fail here
    pw.configure(store=str(store), read_only=False)
    assert world.counts() == before


# -- the parsers never hang and never raise a foreign exception --------------------------------

text = st.text(max_size=30) | st.sampled_from(
    ["1h30m", "10 seconds", "2 days", "-1s", "1e309s", "nan", "0.1ms", "5 fortnights", "1.1s",
     "*/15 * * * *", "0 0 9 * * 1", "@daily", "61 * * * *", "Europe/Paris", "UTC", "../etc",
     "2025-01-01T00:00:00Z", "yesterday", "1" * 40])


def _own_error_or_value(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(pw.PyWorkflowError):
        fn()


@settings(max_examples=300, deadline=None)
@given(value=text | st.floats(allow_nan=True) | st.integers())
def test_duration_and_instant_parsing(value: Any) -> None:
    _own_error_or_value(lambda: parse_duration(value))
    _own_error_or_value(lambda: parse_instant(value))


@settings(max_examples=300, deadline=None)
@given(cron=text, zone=text)
def test_cron_and_timezone_parsing(cron: str, zone: str) -> None:
    def build() -> None:
        spec = ScheduleSpec(cron=cron, timezone=zone)
        spec.next_after(1_700_000_000.0, 1_700_000_000.0)

    _own_error_or_value(build)
