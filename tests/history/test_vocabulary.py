"""The event vocabulary is the one home of event types and statuses, and everyone reads it."""

from __future__ import annotations

import contextlib
import json
import re
from importlib import resources
from pathlib import Path

import pytest

import pyworkflow_nb as pw
from pyworkflow_nb.history import vocabulary as ev
from pyworkflow_nb.notebook.static_timeline import STATUS_COLORS
from pyworkflow_nb.serde import encode

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyworkflow_nb"
_DOTTED = re.compile(r"""["']([a-z_]+\.[a-z_]+)["']""")


def test_the_front_end_copy_is_current() -> None:
    stored = (ROOT / "extension" / "vocabulary.json").read_text()
    assert stored == ev.as_json(), (
        "extension/vocabulary.json is stale: run `python -m pyworkflow_nb.history`")


def test_no_module_but_the_vocabulary_spells_an_event_type() -> None:
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "vocabulary.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            spelled += [f"{path.relative_to(ROOT)}:{n}: {m.group(1)}"
                        for m in _DOTTED.finditer(line) if m.group(1) in ev.EVENT_TYPES]
    assert spelled == []


def test_every_type_and_status_the_views_name_is_in_the_vocabulary() -> None:
    schema = resources.files("pyworkflow_nb.store").joinpath("schema.sql").read_text()
    views = schema[schema.index("CREATE OR REPLACE VIEW"):]
    literals = set(re.findall(r"'([a-z_]+(?:\.[a-z_]+)?)'", views))
    types = {t for t in literals if "." in t}
    statuses = literals - types
    assert types and types <= set(ev.EVENT_TYPES)
    known = {*ev.STEP_STATUSES, *ev.TIMER_STATUSES, *ev.WAIT_STATUSES}
    assert statuses - known <= {"final", "until", "timeout_at", "event", "input", "result",
                                "error", "payload", "millisecond", "pw_frames"}
    assert {"retrying", "fired", "received", "timed_out"} <= statuses


def test_every_status_has_a_colour() -> None:
    assert set(ev.RUN_STATUSES) | set(ev.STEP_STATUSES) <= set(STATUS_COLORS)


def test_terminal_statuses_each_have_a_final_event() -> None:
    assert set(ev.FINAL_EVENTS) == ev.TERMINAL_STATUSES
    assert set(ev.FINAL_EVENTS.values()) <= set(ev.EVENT_TYPES)


@pytest.mark.parametrize("value", ["plain", 'a "quoted"\\ text\n', {"k": [1, 2.5, None]},
                                   {1, 2}, "ünïcode ✓"])
def test_builders_write_json_that_parses_back_to_the_value(value: object) -> None:
    text = encode(value)
    assert ev.recorded_value(ev.parse(ev.result(text))) == value
    assert ev.recorded_value(ev.parse(ev.value_recorded(text))) == value
    data = ev.parse(ev.event_received('go "now"', text))
    assert data["event"] == 'go "now"' and ev.recorded_value(data) == value
    started = json.loads(ev.workflow_started('w"f', None, "p", None, encode(
        {"args": [value] if isinstance(value, str) else [], "kwargs": {}})))
    assert started["workflow"] == 'w"f' and started["parent_run_id"] == "p"


def test_parse_tolerates_empty_and_non_object_data() -> None:
    assert ev.parse(None) == {} and ev.parse("") == {} and ev.parse("[1]") == {}


def test_step_input_shows_what_json_cannot_hold_by_its_repr() -> None:
    data = ev.parse(ev.step_started((1, object()), {"when": {1, 2}}))
    args = data["input"]["args"]
    assert args[0] == 1 and args[1]["repr"].startswith("<object object")
    assert data["input"]["kwargs"]["when"] == {"repr": "{1, 2}"}


@pw.step(max_retries=1, retry_delay="0.01s")
def sometimes(key: str) -> str:
    _tries[key] = _tries.get(key, 0) + 1
    if _tries[key] == 1:
        raise ConnectionError("first try fails")
    return key


@pw.step(max_retries=0)
def broken() -> None:
    raise ValueError("always")


_tries: dict[str, int] = {}


@pw.workflow
async def kid(x: int) -> int:
    return x + 1


@pw.workflow
async def failing_kid() -> None:
    await broken()


@pw.workflow
async def everything(key: str) -> str:
    await sometimes(key)
    await pw.sleep("0.01s")
    pw.now()
    await pw.side_effect(lambda: 3)
    await kid(1)
    with contextlib.suppress(Exception):
        await failing_kid()
    with contextlib.suppress(pw.EventTimeout):
        await pw.wait_for_event("never", timeout="0.01s")
    await pw.wait_for_event("go")
    await broken()
    return "unreachable"


def test_everything_the_engine_writes_is_in_the_vocabulary(client: pw.SyncClient) -> None:
    handle = client.start(everything, "k")
    handle.send_event("go", 1)
    with pytest.raises(pw.WorkflowFailed):
        handle.result(timeout=20)
    handle.retry()
    with pytest.raises(pw.WorkflowFailed):
        handle.result(timeout=20)
    waiting = client.start(everything, "w")
    waiting.cancel()
    with pytest.raises(pw.WorkflowCancelled):
        waiting.result(timeout=20)
    written = {t for (t,) in pw.sql("SELECT DISTINCT type FROM events").fetchall()}
    assert written <= set(ev.EVENT_TYPES)
    assert written >= {ev.STEP_FAILED, ev.STEP_COMPLETED, ev.TIMER_FIRED, ev.VALUE_RECORDED,
                       ev.CHILD_COMPLETED, ev.CHILD_FAILED, ev.WAIT_TIMED_OUT,
                       ev.WAIT_COMPLETED, ev.EVENT_RECEIVED, ev.WORKFLOW_FAILED,
                       ev.WORKFLOW_RETRIED, ev.WORKFLOW_CANCEL_REQUESTED,
                       ev.WORKFLOW_CANCELLED}
    statuses = {s for (s,) in pw.sql("SELECT DISTINCT status FROM runs").fetchall()}
    assert statuses <= set(ev.RUN_STATUSES)


def test_the_readme_documents_every_event_type() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [t for t in ev.EVENT_TYPES if f"| `{t}` |" not in readme] == []
