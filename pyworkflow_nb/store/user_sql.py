"""User SQL on a DuckDB store is read-only by construction.

Each query runs on a fresh connection inside ``BEGIN TRANSACTION READ ONLY``: DuckDB itself
refuses any write to the store there, whatever the statement (``EXPLAIN ANALYZE DELETE ...``
included). Before that, DuckDB's own parser classifies each statement, so a write, a setting
or a file export is refused up front with an error that says what to do instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from ..errors import InvalidInput

_READS = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})
WHY = ("user SQL is read-only: the engine is the only writer of the store, so that no run "
        "loses its history. Query with SELECT; to remove old finished runs, use "
        "pw.purge(older_than=..., status=..., workflow=...).")


def check(query: str) -> None:
    """Refuse a query whose statements are not reads (``SELECT``, ``EXPLAIN``, ``PRAGMA``)."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {exc}") from None
    for statement in statements:
        kind = statement.type.name
        if kind not in _READS:
            raise InvalidInput(f"{kind} refused: {WHY}")


def read_only(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection of ``con``'s database inside a read-only transaction."""
    cur = con.cursor()
    cur.execute("BEGIN TRANSACTION READ ONLY")
    return cur


@contextlib.contextmanager
def _writes_refused() -> Iterator[None]:
    """DuckDB's refusal of a write in a read-only transaction, as the product's error."""
    try:
        yield
    except duckdb.TransactionException as exc:
        if "read-only" in str(exc):
            raise InvalidInput(f"write refused: {WHY}") from None
        raise


def run(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    """The relation of a checked read, on its own read-only connection."""
    check(query)
    cur = read_only(con)
    with _writes_refused():
        return cur.sql(query, params=params) if params is not None else cur.sql(query)


class ReadOnlyCursor:
    """A DuckDB connection in a read-only transaction that checks each statement it runs."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def execute(self, query: str, parameters: Any = None) -> ReadOnlyCursor:
        check(query)
        with _writes_refused():
            self._cur.execute(query, parameters)
        return self

    def sql(self, query: str, params: Any = None) -> Any:
        check(query)
        return self._cur.sql(query, params=params)

    def __getattr__(self, name: str) -> Any:  # fetchall, description, df, close, ...
        return getattr(self._cur, name)


class ReadOnlyConnection:
    """A DB-API connection to the store (for jupysql and the like) whose cursors only read.

    ``commit`` and ``rollback`` do nothing: nothing it runs can change the store. ``before``
    runs as each cursor opens (the store feeds DuckDB what its journal holds).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection,
                 before: Callable[[], None] = lambda: None) -> None:
        self._con = con
        self._before = before

    def cursor(self) -> ReadOnlyCursor:
        self._before()
        return ReadOnlyCursor(read_only(self._con))

    def execute(self, query: str, parameters: Any = None) -> ReadOnlyCursor:
        return self.cursor().execute(query, parameters)

    def sql(self, query: str, params: Any = None) -> Any:
        self._before()
        return run(self._con, query, params)

    def df(self) -> Any:  # jupysql tells a DuckDB connection by its df and pl
        raise InvalidInput("run a query first: conn.sql('SELECT ...').df()")

    pl = df

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass
