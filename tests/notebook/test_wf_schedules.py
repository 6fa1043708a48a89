"""``%wf schedules``, ``%wf schedule ACTION ID`` and ``%wf skip`` in a real IPython shell."""

from __future__ import annotations

import pytest
from ipyshell import Shell
from IPython.core.error import UsageError

import pyworkflow_nb as pw

DEFINE = ('@pw.workflow\nasync def nightly() -> str:\n    return "done"\n'
          'sched = pw.schedule(nightly, cron="0 9 * * *", timezone="UTC")\n')


def test_schedules_list_and_actions(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run('pw.use_virtual_clock("2030-01-01T00:00:00Z")')
    shell.run(DEFINE)
    listed = shell.run("%wf schedules")
    [row] = listed._rows()
    assert row[:4] == ["nightly", "nightly", "active", "0 9 * * *"]
    assert row[4] == "2030-01-01T09:00:00.000Z"
    assert "<td" in listed._repr_html_() and "nightly" in repr(listed)
    assert "0 9 * * *" in shell.run("sched")._repr_html_()

    shell.run("%wf skip 10h")
    assert "virtual time is now 2030-01-01T10:00:00" in capsys.readouterr().out
    assert shell.run("%wf schedules")._rows()[0][5] == 1  # fired once, at 09:00

    shell.run("%wf schedule pause nightly")
    assert pw.get_schedule("nightly").status() == "paused"
    shell.run("%wf schedule resume nightly")
    assert pw.get_schedule("nightly").status() == "active"
    shell.run("%wf schedule trigger nightly")
    assert "triggered run" in capsys.readouterr().out
    shell.run("%wf schedule delete nightly")
    assert shell.run("%wf schedules") == []
    pw.use_real_clock()


def test_bad_schedule_commands_are_usage_errors(shell: Shell) -> None:
    assert isinstance(shell.fail("%wf schedule explode nightly"), UsageError)
    error = shell.fail("%wf schedule pause nope")
    assert isinstance(error, UsageError) and "nope" in str(error)
    assert isinstance(shell.fail("%wf skip soon"), UsageError)
