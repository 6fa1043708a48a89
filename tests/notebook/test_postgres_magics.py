"""The magics on a PostgreSQL store: %wf store URL switches to it, %%wfsql binds as on DuckDB."""

from __future__ import annotations

import pytest
from ipyshell import Shell
from pg_server import fresh_database

pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (test extras)")


def test_wf_store_url_and_wfsql_on_postgresql(shell: Shell, pg_server: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = fresh_database(pg_server)
    shell.run(f"%wf store {url}")
    assert f"store {url}, no unfinished runs" in capsys.readouterr().out
    shell.run("@pw.step\ndef twice(x):\n    return 2 * x\n\n\n"
              "@pw.workflow\nasync def doubled(x):\n    return await twice(x)")
    assert shell.run("pw.run(doubled, 21)") == 42
    shell.run("wanted = 'twice'")
    rows = shell.run("%wfsql SELECT name, status FROM steps WHERE name = {{wanted}}")
    assert list(rows.itertuples(index=False, name=None)) == [("twice", "completed")]
    error = shell.fail("%wfsql DELETE FROM runs")
    assert "refused" in str(error)


def test_jupysql_reads_a_postgresql_store_through_store_connection_and_cannot_write(
        shell: Shell, pg_server: str) -> None:
    shell.run(f"%wf store {fresh_database(pg_server)}")
    shell.run("@pw.workflow\nasync def counted() -> int:\n    return 7\n\npw.run(counted)")
    shell.run("%load_ext sql")
    shell.run("conn = pw.notebook.store_connection()")
    shell.run("%sql conn --alias pw")
    result = shell.run("%sql SELECT workflow, status, result::text FROM runs")
    assert [tuple(row) for row in result] == [("counted", "completed", "7")]
    for write in ("DELETE FROM runs", "SET default_transaction_read_only = off",
                  "WITH gone AS (DELETE FROM runs RETURNING 1) SELECT * FROM gone"):
        shell.fail(f"%sql {write}")
    result = shell.run("%sql SELECT count(*) FROM runs")
    assert [tuple(row) for row in result] == [(1,)]
    shell.run("%sql --close pw")
