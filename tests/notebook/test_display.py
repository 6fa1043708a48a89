"""Rich displays: escaped static HTML and readable reprs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ipyshell import Shell

import pyworkflow_nb as pw
from pyworkflow_nb.notebook import EventList, QueryResult, RunList

SCRIPT = "<script>alert(1)</script>"


def test_user_values_are_escaped_everywhere(shell: Shell) -> None:
    shell.run(f"@pw.step\ndef evil(): return {SCRIPT!r}\n")
    shell.run("%%workflow xss() --run --id e1 --wait\nreturn await evil()\n")
    handle = pw.get_run("e1")
    pages = [handle._repr_html_(), EventList(handle.events())._repr_html_(),
             RunList([handle])._repr_html_(),
             QueryResult(["v"], [(SCRIPT,)])._repr_html_()]
    for page in pages:
        assert "<script" not in page
    assert "&lt;script&gt;" in pages[0] and "&lt;script&gt;" in pages[1]


def test_reprs_are_readable(shell: Shell) -> None:
    shell.run("%%workflow one() --run --id rp --wait\nreturn 1\n")
    handle = pw.get_run("rp")
    assert repr(handle) == "<RunHandle rp workflow=one status=completed>"
    assert "rp" in repr(RunList([handle]))
    assert "workflow.completed" in repr(EventList(handle.events()))
    assert repr(QueryResult(["a"], [(1,)])).splitlines() == ["a", "1"]
    assert repr(RunList()) == "no runs"



def test_runs_table_refuses_a_bad_limit(shell: Shell) -> None:
    for bad in (0, -3, 2.5, True):
        with pytest.raises(pw.InvalidInput, match=r"must be an int >= 1, got"):
            pw.runs_table(limit=bad)


def test_the_environment_ships_the_anywidget_module_vs_code_loads() -> None:
    """VS Code's widget manager loads anywidget from the kernel environment's nbextensions
    (README, VS Code): the anywidget we install must put it there."""
    index = Path(sys.prefix) / "share" / "jupyter" / "nbextensions" / "anywidget" / "index.js"
    assert index.is_file(), f"{index} is missing: VS Code would say 'No version of module " \
        "anywidget is registered'"
    source = index.read_text()
    assert 'define(["@jupyter-widgets/base"]' in source and "AnyModel" in source
