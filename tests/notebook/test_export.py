"""pw.export in a real IPython shell: what it refuses, and what it lists instead of writing."""

from __future__ import annotations

from pathlib import Path

from ipyshell import Shell

import pyworkflow_nb as pw


def test_export_lists_what_it_cannot_write_and_writes_the_rest(shell: Shell,
                                                                tmp_path: Path) -> None:
    shell.run("def raw(x):\n    return x + 1\n\nbumped = pw.step(raw)")
    shell.run("@pw.workflow\nasync def uses_bumped(x):\n    return await bumped(x)")
    shell.run('%%workflow poem()\ntext = """two\nlines"""\nreturn text')
    report = shell.run("pw.export('out.py', 'uses_bumped', 'poem')")
    assert isinstance(report, pw.ExportReport)
    assert report.definitions == ["uses_bumped"]
    assert [u.split(":")[0] for u in report.unresolved] == [
        "bumped (used by uses_bumped)", "poem (used by the export)"]
    assert "decorate the function instead" in report.unresolved[0]
    assert "multi-line string" in report.unresolved[1]
    written = (tmp_path / "out.py").read_text()
    assert "async def uses_bumped" in written and "async def poem" not in written
    assert "#   - bumped (used by uses_bumped)" in written, "listed at the top of the module"
    compile(written, "out.py", "exec")


def test_export_refuses_a_path_that_is_not_a_module(shell: Shell) -> None:
    shell.run("@pw.workflow\nasync def tiny():\n    return 1")
    error = shell.fail("pw.export('out.txt', 'tiny')")
    assert isinstance(error, pw.InvalidInput) and "needs a .py path" in str(error)
