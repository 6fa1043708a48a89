"""Durations and instants: parsing user input, formatting for humans, UTC conversions."""

from __future__ import annotations

import math
import numbers
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import TypeAlias

from pyworkflow_nb.errors import InvalidInput

__all__ = [
    "DurationLike",
    "format_duration",
    "iso_utc",
    "parse_duration",
    "parse_instant",
    "utc_datetime",
]

DurationLike: TypeAlias = str | int | float | timedelta

_UNIT_SECONDS = {
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
    **dict.fromkeys(("w", "week", "weeks"), 604800.0),
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_BARE_NUMBER = re.compile(rf"-?{_NUMBER}")
_PART = re.compile(rf"({_NUMBER})\s*([a-z]+)\s*")
_DURATION_HINT = (
    'expected a duration like "30s", "1h30m", "2 days", a number of seconds or a timedelta'
)
_INSTANT_HINT = (
    'expected a datetime, an ISO-8601 string like "2025-01-31T09:00:00Z" or epoch seconds'
)

_EPOCH = datetime(1970, 1, 1)
# (size in seconds, label) from the largest unit down; format_duration shows at most two.
_FORMAT_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def parse_duration(value: DurationLike, *, what: str = "duration") -> float:
    """Convert a duration given by the user to seconds.

    Args:
        value: Seconds as an int or float, a ``timedelta``, or a string such as
            ``"30s"``, ``"1h30m"``, ``"500ms"``, ``"1.5h"``, ``"2 days"``,
            ``"3 hours 20 minutes"`` or ``"45"`` (seconds). Strings are
            case-insensitive and may contain whitespace.
        what: What the value is, for error messages (``"timeout"``, ...).

    Returns:
        The duration in seconds; zero is allowed.

    Raises:
        InvalidInput: The value is malformed, not finite or negative.
    """
    kind = type(value)
    try:
        if isinstance(value, (int, float)) and (kind is float or kind is int):
            seconds = float(value)
        elif kind is str:
            parsed = _parse_duration_text(value)
            if parsed is None:
                raise InvalidInput(f"invalid {what} {value!r}: {_DURATION_HINT}")
            seconds = parsed
        elif isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            seconds = float(value)
        else:
            raise InvalidInput(f"invalid {what} {value!r}: {_DURATION_HINT}")
    except OverflowError:
        raise InvalidInput(f"{what} must be a finite duration, got {value!r}") from None
    if not math.isfinite(seconds):
        raise InvalidInput(f"{what} must be a finite duration, got {value!r}")
    if seconds < 0:
        raise InvalidInput(f"{what} must not be negative, got {value!r}")
    return seconds + 0.0  # turns -0.0 into 0.0


@lru_cache(maxsize=1024)
def _parse_duration_text(text: str) -> float | None:
    """Return the signed number of seconds ``text`` spells, or None if it is malformed."""
    text = text.strip().lower()
    if _BARE_NUMBER.fullmatch(text):
        return float(text)
    sign = 1.0
    if text.startswith("-"):
        sign, text = -1.0, text[1:].lstrip()
    total, pos = 0.0, 0
    while pos < len(text):
        part = _PART.match(text, pos)
        if part is None or part.group(2) not in _UNIT_SECONDS:
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        pos = part.end()
    return sign * total if pos else None


def parse_instant(value: datetime | str | float | int, *, what: str = "time") -> float:
    """Convert a point in time given by the user to epoch seconds.

    A naive datetime (or an ISO-8601 string without an offset) is read as local
    time, as ``datetime.timestamp()`` does.

    Args:
        value: A datetime, an ISO-8601 string (a trailing ``Z`` means UTC) or
            epoch seconds as an int or float.
        what: What the value is, for error messages (``"start time"``, ...).

    Returns:
        Seconds since the Unix epoch.

    Raises:
        InvalidInput: The value is not a point in time.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"invalid {what} {value!r}: {_INSTANT_HINT}") from None
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds):
            raise InvalidInput(f"invalid {what} {value!r}: {_INSTANT_HINT}")
        return seconds
    else:
        hint = "; add a time of day with datetime.combine()" if isinstance(value, date) else ""
        raise InvalidInput(f"invalid {what} {value!r}: {_INSTANT_HINT}{hint}")
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInput(f"invalid {what} {value!r}: {exc}") from None


def format_duration(seconds: float) -> str:
    """Format a duration for humans with at most two units.

    Examples: ``350 ms``, ``1.2 s``, ``45 s``, ``3 min``, ``1 h 30 min``,
    ``2 d 4 h``. Negative durations get a leading minus sign.

    Args:
        seconds: The duration in seconds.

    Returns:
        Short text such as ``"1 h 30 min"``.
    """
    if not math.isfinite(seconds):
        return f"{seconds} s"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0 s"
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis} ms"
    tenths = round(seconds * 10)
    if tenths < 100:
        return f"{tenths / 10:g} s"
    for (size, label), (small, small_label) in pairwise(_FORMAT_UNITS):
        count = round(seconds / small)  # whole units of the smaller size
        if count * small >= size:
            big, rest = divmod(count, size // small)
            return f"{big} {label} {rest} {small_label}" if rest else f"{big} {label}"
    return f"{round(seconds)} s"


def utc_datetime(epoch: float) -> datetime:
    """Return the naive UTC datetime for epoch seconds (for DuckDB ``TIMESTAMP`` columns)."""
    return _EPOCH + timedelta(seconds=epoch)


def iso_utc(epoch: float) -> str:
    """Return epoch seconds as ISO-8601 UTC text, e.g. ``2025-01-31T09:00:00.000Z``.

    Sub-millisecond digits are truncated.
    """
    return utc_datetime(epoch).isoformat(timespec="milliseconds") + "Z"
