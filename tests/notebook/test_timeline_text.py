"""Display text of the run-timeline state: value formatting, durations, text limits."""

from __future__ import annotations

import time

from pyworkflow_nb.notebook.timeline_text import (
    format_duration,
    format_value,
    short_duration,
    text_limit,
)


def test_format_value() -> None:
    assert format_value("plain <b>") == ("plain <b>", False)
    assert format_value({"a": [1, None, True]}) == ('{"a": [1, null, true]}', False)
    env = {"__pw_pickle__": "AAA", "type": "pandas.DataFrame", "repr": "<DataFrame 3x2>"}
    assert format_value({"df": env, "n": 1}) == ('{"df": <DataFrame 3x2>, "n": 1}', False)
    assert format_value({"__pw_pickle__": "AAA", "type": "T"}) == ("<T>", False)
    assert format_value("x" * 50, 10) == ("x" * 10, True)
    assert format_value({"a": 1}, indent=2) == ('{\n  "a": 1\n}', False)
    text, cut = format_value(list(range(100)), 20)
    assert cut and len(text) == 20 and text.startswith("[0, 1, 2")


def test_format_value_stops_early_on_huge_values() -> None:
    huge = [{"k": i, "v": "z" * 100} for i in range(300_000)]
    start = time.perf_counter()
    text, cut = format_value(huge, 2000)
    assert time.perf_counter() - start < 0.05
    assert cut and len(text) == 2000


def test_format_duration_and_limits() -> None:
    cases = {
        0: "0 ms",
        0.85: "850 ms",
        5: "5 s",
        12.34: "12.3 s",
        60: "1 min",
        242: "4 min 2 s",
        10800: "3 h",
        11100: "3 h 5 min",
        2 * 86400 + 5 * 3600: "2 d 5 h",
        -3: "0 ms",
    }
    assert {k: format_duration(k) for k in cases} == cases
    assert short_duration(11100) == "3 h"
    assert text_limit(0) == 2000
    assert text_limit(10) == 2000
    assert text_limit(2000) == 150
    assert text_limit(10**7) == 80
