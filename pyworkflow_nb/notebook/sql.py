"""``%%wfsql`` / ``%wfsql``: read-only SQL on the store with safely bound Python variables.

``{{name}}`` and ``$name`` in the query both become DuckDB named parameters bound to the
notebook variable ``name``: values are never pasted into the SQL text. ``df << SELECT ...``
stores the result in ``df`` and returns nothing; ``df= << ...`` stores and returns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb
from IPython.core.error import UsageError

from ..errors import InvalidInput, StoreError
from ..runtime import runtime
from ..store.pg_connection import ReadOnlyPgConnection
from ..store.user_sql import ReadOnlyConnection
from .display import QueryResult

USAGE = ("%wfsql [name <<] SELECT ...   or   %%wfsql [name <<] / [name= <<] on the first line "
         "and the query below; bind notebook variables with {{var}} or $var")
TABLES = "runs, events, steps, timers, waits, workflows"
_CAPTURE = re.compile(r"\s*([A-Za-z_]\w*)\s*(=?)\s*<<", re.S)
_BRACES = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$([A-Za-z_]\w*)",
                    re.S)


@dataclass(frozen=True)
class SqlCommand:
    """A parsed ``%wfsql`` call: the query, its parameter names and the capture target."""

    query: str
    params: tuple[str, ...]
    target: str | None
    returns: bool


def parse(line: str, cell: str = "") -> SqlCommand:
    """Split ``[name [=] <<] query`` and find the variables it binds."""
    text = line + ("\n" + cell if cell else "")
    target, returns = None, True
    match = _CAPTURE.match(text)
    if match is not None:
        target, returns = match.group(1), match.group(2) == "="
        text = text[match.end():]
    query = _BRACES.sub(r"$\1", text).strip()
    if not query:
        raise UsageError(f"%wfsql: no query given.\nusage: {USAGE}\ntables: {TABLES}")
    names = tuple(dict.fromkeys(m.group(1) for m in _TOKEN.finditer(query) if m.group(1)))
    return SqlCommand(query, names, target, returns)


def _check_read_only(query: str) -> None:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {exc}") from None
    if len(statements) != 1:
        raise UsageError(f"%wfsql runs one statement at a time, got {len(statements)}; "
                         "split them into separate cells")


def store_connection() -> ReadOnlyConnection | ReadOnlyPgConnection:
    """A read-only connection to the open store, e.g. for jupysql: ``%sql conn --alias pw``
    (on a PostgreSQL store, a session of its own: close it when done)."""
    return runtime.ensure().store.cursor()


def execute(command: SqlCommand, namespace: dict[str, Any]) -> Any:
    """Run the query; a pandas DataFrame when pandas is installed, else a ``QueryResult``."""
    missing = [n for n in command.params if n not in namespace]
    if missing:
        raise UsageError(
            f"%wfsql: no notebook variable named {missing[0]!r} for the parameter "
            f"${missing[0]}; define it in a cell first")
    _check_read_only(command.query)
    params = {n: namespace[n] for n in command.params}
    try:
        import pandas
    except ImportError:
        pandas = None
    try:
        relation = runtime.ensure().store.sql(command.query, params or None)
        if pandas is not None:
            return relation.df()
        return QueryResult([c[0] for c in relation.description], relation.fetchall())
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {exc}\n(tables: {TABLES})") from None
    except (StoreError, InvalidInput) as exc:
        raise UsageError(f"%wfsql: {exc}") from None
