"""A read-only DB-API connection to a PostgreSQL store, for SQL tools such as jupysql.

Its own session (never the engine's), whose transactions are read-only on the server's side;
each cursor also refuses a statement that is not a read before sending it, so a ``SET`` cannot
make the session writable. Queries use psycopg's ``%s`` placeholders.
"""

from __future__ import annotations

from typing import Any

from . import user_sql


class ReadOnlyPgConnection:
    """Wraps a psycopg connection opened read-only; ``commit`` and ``rollback`` do nothing."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def cursor(self) -> ReadOnlyPgCursor:
        return ReadOnlyPgCursor(self._con.cursor())

    def execute(self, query: str, params: Any = None) -> ReadOnlyPgCursor:
        return self.cursor().execute(query, params)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        self._con.close()


class ReadOnlyPgCursor:
    """A psycopg cursor whose ``execute`` takes reads only."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, query: str, params: Any = None) -> ReadOnlyPgCursor:
        user_sql.check(query)
        self._cur.execute(query, params)
        return self

    def __getattr__(self, name: str) -> Any:  # description, rowcount, fetch*, close
        return getattr(self._cur, name)

    def __iter__(self) -> Any:
        return iter(self._cur)
