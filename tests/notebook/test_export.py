"""pw.export in a real IPython shell: what it refuses, and what it lists instead of writing."""

from __future__ import annotations

import json
import subprocess
import sys
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


SCHEDULE_CELLS = [
    '@pw.schedule(cron="0 3 * * *")\n@pw.workflow\nasync def nightly_export():\n    return 1',
    "@pw.workflow\nasync def report_export(day, region='eu'):\n    return day",
    # made by calls: only the store knows them
    "pw.schedule(report_export, every='1h', schedule_id='hourly', args=[2],"
    " kwargs={'region': 'us'}, overlap='allow', paused=True, note='on hold')",
    "pw.schedule(report_export, cron='0 9 * * 1-5', timezone='Europe/Paris', catchup='all',"
    " jitter='30s', start_at='2027-01-01T00:00:00Z')",
    "pw.schedule(nightly_export, every='2h', schedule_id='extra')",
    "pw.schedule(report_export, every='1d', schedule_id='objects', args=[object()])",
]
SETTINGS = ("workflow", "status", "note", "cron", "every", "timezone", "overlap", "catchup",
            "jitter", "start_at", "end_at", "args", "kwargs")


def test_export_writes_the_schedules_the_store_holds_and_a_new_store_gets_them(
        shell: Shell, tmp_path: Path) -> None:
    for cell in SCHEDULE_CELLS:
        shell.run(cell)
    notebook = {h.schedule_id: h.describe() for h in shell.run("pw.list_schedules()")}
    report = shell.run("pw.export('flows.py', 'nightly_export', 'report_export')")
    written = (tmp_path / "flows.py").read_text()
    assert written.count("schedule(") == 4, "decorated nightly_export once, 3 calls, not objects"
    assert "schedule_id='report_export'" not in written, "the id is left out as the default"
    assert report.unresolved == ["schedule 'objects' (used by report_export): its arguments are "
                                 "not literals; call pw.schedule in the module"]
    assert shell.run("pw.export('flows.py', 'nightly_export', 'report_export')").changed is False

    script = (f"import json, sys\nsys.path.insert(0, {str(tmp_path)!r})\n"
              "import pyworkflow_nb as pw\n"
              f"pw.configure(store={str(tmp_path / 'worker.duckdb')!r})\nimport flows\n"
              "print(json.dumps({h.schedule_id: h.describe() for h in pw.list_schedules()}))\n"
              "pw.shutdown()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(worker) == ["extra", "hourly", "nightly_export", "report_export"]
    for sid, described in worker.items():
        assert {k: described[k] for k in SETTINGS} == \
               {k: notebook[sid][k] for k in SETTINGS}, sid
