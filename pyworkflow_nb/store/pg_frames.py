"""Step results that are DataFrames, kept as PostgreSQL tables so that SQL reaches their rows.

The PostgreSQL side of :mod:`.frames`. PostgreSQL caps identifiers at 63 bytes, too short for
``"<run_id>/<step_id>"``, so each frame's table is ``pw_frames.f<id>`` and the ``frame_tables``
index maps ``(run_id, step_id)`` to its id; the ``frames`` view lists them, with each one's
``table_name``. A frame is written in the transaction of the batch holding its step's result,
inside a savepoint of its own, so a frame that cannot be written costs its table only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from . import frames

SCHEMA = frames.SCHEMA
NAME_BYTES = 63  # PostgreSQL's longest identifier

_INTEGERS = {1: "smallint", 2: "smallint", 4: "integer", 8: "bigint"}
_UNSIGNED = {1: "smallint", 2: "integer", 4: "bigint", 8: "numeric"}
_INFERRED: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    # what pandas.api.types.infer_dtype says of a column of Python objects: its type here
    "string": ("text", str),
    "empty": ("text", None),
    "boolean": ("boolean", bool),
    "floating": ("double precision", float),
    "mixed-integer-float": ("double precision", float),
    "decimal": ("numeric", None),
    "date": ("date", None),
    "time": ("time", None),
    "timedelta": ("interval", None),
    "bytes": ("bytea", bytes),
}


def _decimal(value: Any) -> Decimal:
    return Decimal(int(value))


def _no_complex(series: Any) -> TypeError:
    return TypeError(f"column {series.name!r} holds complex numbers, which PostgreSQL has no "
                     "type for")


def table_of(frame_id: int) -> str:
    """The qualified name of the frame table with this id in ``frame_tables``."""
    return f"{SCHEMA}.f{frame_id}"


def _column(series: Any) -> tuple[str, Callable[[Any], Any] | None]:
    """The PostgreSQL type of a column, and the conversion of its values to Python ones
    psycopg writes as that type (``None``: they already are)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # typed by what its values are
        series = series.astype(object)
        dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return "boolean", bool
    if kind == "i":
        return _INTEGERS[dtype.itemsize], int
    if kind == "u":
        return _UNSIGNED[dtype.itemsize], (_decimal if dtype.itemsize == 8 else int)
    if kind == "f":
        return ("real" if dtype.itemsize == 4 else "double precision"), float
    if kind == "c":
        raise _no_complex(series)
    if kind == "M":
        return ("timestamptz" if getattr(dtype, "tz", None) else "timestamp"), None
    if kind == "m":
        return "interval", pd.Timedelta.to_pytimedelta  # what psycopg's dumper takes
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("datetime", "datetime64"):
        values = series.dropna()
        aware = any(getattr(v, "tzinfo", None) is not None for v in values)
        return ("timestamptz" if aware else "timestamp"), None
    if inferred == "integer":
        values = series.dropna()
        fits = values.empty or (min(values) >= -2**63 and max(values) < 2**63)
        return ("bigint", int) if fits else ("numeric", _decimal)
    if inferred == "complex":
        raise _no_complex(series)
    return _INFERRED.get(inferred, ("text", str))  # other objects become their text


def _values(series: Any, convert: Callable[[Any], Any] | None) -> list[Any]:
    """The column's values as Python objects, ``None`` for a missing one (NaN, NaT, NA)."""
    missing = series.isna().tolist()
    values = series.astype(object).tolist()
    return [None if gone else (convert(v) if convert else v)
            for v, gone in zip(values, missing, strict=True)]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _definition(frame: Any) -> tuple[list[str], list[str], list[list[Any]]]:
    """The frame's column names (quoted), their types and their values."""
    names = [str(name) for name in frame.columns]
    long = [n for n in names if len(n.encode()) > NAME_BYTES]
    if long:
        raise ValueError(f"column name {long[0]!r} is longer than the {NAME_BYTES} bytes "
                         "PostgreSQL allows")
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"column name {twice[0]!r} appears more than once")
    types, values = [], []
    for position in range(len(names)):
        series = frame.iloc[:, position]
        pg_type, convert = _column(series)
        types.append(pg_type)
        values.append(_values(series, convert))
    return [_quoted(name) for name in names], types, values


def write(con: Any, batch_frames: Iterable[tuple[str, str, Any]]) -> None:
    """Write each ``(run_id, step_id, frame)`` as its table, inside the caller's transaction,
    each in a savepoint; a frame that cannot be written is logged and left to its event."""
    for run_id, step_id, frame in batch_frames:
        if frames.too_big(run_id, step_id, frame):
            continue
        try:
            names, types, values = _definition(frame)
            with con.transaction():
                cur = con.cursor()
                (frame_id,) = cur.execute(
                    "INSERT INTO frame_tables (run_id, step_id, rows, columns) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, step_id) DO UPDATE "
                    "SET rows = excluded.rows, columns = excluded.columns RETURNING id",
                    [run_id, step_id, len(frame), len(names)]).fetchone()
                table = table_of(frame_id)
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(f"CREATE TABLE {table} "
                            f"({', '.join(map(' '.join, zip(names, types, strict=True)))})")
                if names and len(frame):  # binary COPY: about 3x the rows/s of text
                    with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(types)
                        for row in zip(*values, strict=True):
                            copy.write_row(row)
        except Exception as exc:  # a column PostgreSQL cannot take: the table is what is lost
            frames.not_written(run_id, step_id, exc)


def drop(cur: Any, run_ids: list[str]) -> None:
    """Drop the frame tables of exactly these runs (not of their child runs), inside the
    caller's transaction."""
    for (frame_id,) in cur.execute("DELETE FROM frame_tables WHERE run_id = ANY(%s) "
                                   "RETURNING id", [run_ids]).fetchall():
        cur.execute(f"DROP TABLE IF EXISTS {table_of(frame_id)}")


def rename(cur: Any, run_id: str, new_run_id: str) -> None:
    """Move the frames of ``run_id`` and its child runs under ``new_run_id``."""
    cur.execute("UPDATE frame_tables SET run_id = %(new)s || substr(run_id, length(%(old)s) + 1) "
                "WHERE run_id = %(old)s OR starts_with(run_id, %(old)s || '/')",
                {"old": run_id, "new": new_run_id})

