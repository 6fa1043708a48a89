"""jupysql's ``%sql`` pointed at the store's connection, as the README documents."""

from __future__ import annotations

from ipyshell import Shell


def test_jupysql_reads_the_store(shell: Shell) -> None:
    shell.run("@pw.workflow\nasync def counted() -> int:\n    return 7\n\npw.run(counted)")
    shell.run("%load_ext sql")
    shell.run("from pyworkflow_nb.notebook import store_connection\n"
              "conn = store_connection()")
    shell.run("%sql conn --alias pw")
    result = shell.run("%sql SELECT workflow, status, result FROM runs")
    assert [tuple(row) for row in result] == [("counted", "completed", "7")]
    shell.run("%sql --close pw")


def test_jupysql_cannot_write_to_the_store(shell: Shell) -> None:
    shell.run("@pw.workflow\nasync def kept() -> int:\n    return 1\n\npw.run(kept)")
    shell.run("%load_ext sql")
    shell.run("from pyworkflow_nb.notebook import store_connection\n"
              "conn = store_connection()")
    shell.run("%sql conn --alias pw")
    shell.fail("%sql DELETE FROM runs")
    shell.fail("%sql EXPLAIN ANALYZE DELETE FROM runs")
    result = shell.run("%sql SELECT count(*) FROM runs")
    assert [tuple(row) for row in result] == [(1,)]
    shell.run("%sql --close pw")
