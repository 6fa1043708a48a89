"""Static HTML/SVG of a run timeline and a runs table: content, structure and escaping."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any

from pyworkflow_nb.notebook.static_timeline import (
    axis_ticks,
    render_html,
    render_runs_table_html,
)
from pyworkflow_nb.notebook.timeline_data import build_state
from pyworkflow_nb.notebook.timeline_layout import layout

T0 = 1_700_000_000.0
EVIL = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ALLOWED_TAGS = {
    "div", "span", "strong", "code", "svg", "rect", "line", "text", "title", "path", "g",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


class Tags(HTMLParser):
    """Collects the tags and attributes of an HTML fragment, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"rect", "line", "path"}:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in {"rect", "line", "path"}:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    p.close()
    assert p.open == [], f"unclosed: {p.open}"
    return p


def assert_safe(html: str) -> Tags:
    tags = parse(html)
    for tag, attrs in tags.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), name
            assert "javascript:" not in (value or "").lower()
    return tags


def ev(seq: int, dt: float, typ: str, step: str | None = None, attempt: int | None = None,
       **data: Any) -> dict[str, Any]:  # fmt: skip
    return {"run_id": "run<1>", "seq": seq, "ts": T0 + dt, "type": typ, "step": step,
            "attempt": attempt, "data": data}  # fmt: skip


def hostile_run() -> list[dict[str, Any]]:
    err = {"type": "<b>Err</b>", "message": IMG, "traceback": EVIL}
    return [
        ev(
            1,
            0,
            "workflow.started",
            workflow=EVIL,
            version="v",
            input={"args": [IMG], "kwargs": {}},
        ),
        ev(2, 1, "step.started", f"{EVIL}#1", 1, input={"args": [], "kwargs": {}}),
        ev(3, 2, "step.completed", f"{EVIL}#1", 1, result=EVIL),
        ev(4, 2, "step.started", "fetch#2", 1, input={"args": [], "kwargs": {}}),
        ev(5, 3, "step.failed", "fetch#2", 1, error=err, retry_at=T0 + 5, final=False),
        ev(6, 5, "step.started", "fetch#2", 2, input={"args": [], "kwargs": {}}),
        ev(7, 6, "step.completed", "fetch#2", 2, result={"k": IMG}),
        ev(8, 6, "timer.started", "sleep#1", until=T0 + 6 + 10800),
        ev(9, 6 + 10800, "timer.fired", "sleep#1"),
        ev(10, 6 + 10801, "event.received", event=EVIL, payload=IMG),
        ev(11, 6 + 10802, "step.started", "last#1", 1, input={"args": [], "kwargs": {}}),
        ev(12, 6 + 10803, "step.failed", "last#1", 1, error=err, retry_at=None, final=True),
        ev(13, 6 + 10804, "workflow.failed", error=err),
    ]


def test_timeline_html_shows_user_data_only_as_text() -> None:
    state = build_state(hostile_run(), T0 + 20000)
    html = render_html(state)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tags = assert_safe(html)
    text = "".join(tags.text)
    assert EVIL in text  # the step's result, the workflow's name, the step's label
    assert IMG in text  # the error message


def test_timeline_html_draws_rows_gaps_markers_and_progress() -> None:
    state = build_state(hostile_run(), T0 + 20000)
    html = render_html(state)
    tags = assert_safe(html)
    text = "".join(tags.text)
    assert "slept 3 h" in text
    assert "2 done / 3 total · 1 failed" in text
    svg = [t for t, _ in tags.tags if t == "svg"]
    assert len(svg) == 1
    fills = [a.get("fill") for t, a in tags.tags if t == "rect"]
    assert "#d64545" in fills and "#2e9e5b" in fills and "#e39b2d" in fills
    titles = [d for d in tags.text if "attempt 2" in d]
    assert titles, "hover titles name the attempt"
    assert any(d.startswith("event ") and "at " in d for d in tags.text), "an event marker"
    assert any(t == "table" for t, _ in tags.tags), "a table fallback"


def test_progress_counts_steps_only() -> None:
    events = [
        ev(1, 0, "workflow.started", workflow="wf", version="v", input={"args": [], "kwargs": {}}),
        ev(2, 1, "step.started", "a#1", 1, input={"args": [], "kwargs": {}}),
        ev(3, 2, "step.completed", "a#1", 1, result=1),
        ev(4, 2, "step.started", "b#1", 1, input={"args": [], "kwargs": {}}),
        ev(5, 3, "timer.started", "sleep#1", until=T0 + 100),
    ]
    html = render_html(build_state(events, T0 + 10))
    assert "1 done / 2 total" in "".join(parse(html).text)


def test_long_runs_are_cut_to_max_rows() -> None:
    events = [ev(1, 0, "workflow.started", workflow="wf", version="v", input=None)]
    for i in range(1, 51):
        events.append(ev(2 * i, i, "step.started", f"s#{i}", 1, input={"args": [], "kwargs": {}}))
        events.append(ev(2 * i + 1, i + 0.5, "step.completed", f"s#{i}", 1, result=i))
    html = render_html(build_state(events, T0 + 60), max_rows=10)
    text = "".join(assert_safe(html).text)
    assert "41 more rows" in text
    assert "s #10" not in text and "s #9" in text


def test_axis_ticks_are_ordered_and_inside() -> None:
    state = build_state(hostile_run(), T0 + 20000)
    pieces = layout(state, 600)
    ticks = axis_ticks(pieces)
    assert len(ticks) >= 2
    xs = [x for _, x, _ in ticks]
    assert xs == sorted(xs) and xs[0] >= 0 and xs[-1] <= 600
    for t, _, _ in ticks:
        assert not any(p["gap"] and p["start"] < t < p["end"] for p in pieces)


def test_sub_second_ticks_show_their_fraction_once() -> None:
    state = build_state([], T0)
    state["run"].update(start=T0, end=T0 + 3.5)
    labels = [label for _, _, label in axis_ticks(layout(state, 900))]
    assert len(labels) >= 4 and len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d", label) for label in labels)


def test_empty_state_renders() -> None:
    assert_safe(render_html(build_state([], T0)))


def test_runs_table_is_escaped_and_newest_first() -> None:
    runs = [
        {"run_id": "old", "workflow": "etl", "status": "completed", "created_at": T0,
         "finished_at": T0 + 65, "error": None},
        {"run_id": EVIL, "workflow": IMG, "status": "<i>failed</i>", "created_at": T0 + 100,
         "finished_at": None, "error": {"type": "<b>E</b>", "message": EVIL}},
        {"run_id": "iso", "workflow": "etl", "status": "running",
         "created_at": datetime.fromtimestamp(T0 + 50, tz=timezone.utc).isoformat(),
         "finished_at": "", "error": "plain <u>text</u>"},
        {"run_id": "dt", "workflow": "etl", "status": "running",
         "created_at": datetime.fromtimestamp(T0 + 10, tz=timezone.utc), "finished_at": None},
    ]  # fmt: skip
    html = render_runs_table_html(runs)
    tags = assert_safe(html)
    assert "<script" not in html and "<img" not in html and "<u>" not in html
    text = "".join(tags.text)
    assert IMG in text and "plain <u>text</u>" in text and "1 min 5 s" in text
    order = [a.get("title") for t, a in tags.tags if t == "code"]
    assert order == [EVIL, "iso", "dt", "old"]


def test_runs_table_without_runs() -> None:
    assert "no runs" in render_runs_table_html([])
