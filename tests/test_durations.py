from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest

from pyworkflow_nb.durations import (
    format_duration,
    iso_utc,
    parse_duration,
    parse_instant,
    utc_datetime,
)
from pyworkflow_nb.errors import InvalidInput


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("1h30m", 5400.0),
        ("1d2h", 93600.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("10 seconds", 10.0),
        ("2 days", 172800.0),
        ("1 minute", 60.0),
        ("3 hours 20 minutes", 12000.0),
        ("1w", 604800.0),
        ("2 weeks", 1209600.0),
        ("45", 45.0),
        ("2.5", 2.5),
        ("  1H 30Min  ", 5400.0),
        ("5 sec", 5.0),
        ("2 hr", 7200.0),
        ("250 milliseconds", 0.25),
        (".5s", 0.5),
        ("0s", 0.0),
        ("0", 0.0),
        (0, 0.0),
        (45, 45.0),
        (1.5, 1.5),
        (-0.0, 0.0),
        (timedelta(minutes=2, milliseconds=5), 120.005),
        (Fraction(3, 2), 1.5),
    ],
)
def test_parse_duration_accepts(value, seconds):
    result = parse_duration(value)
    assert result == pytest.approx(seconds)
    assert type(result) is float


@pytest.mark.parametrize(
    "value", ["", "   ", "abc", "5x", "1 fortnight", "h", "1h30", "1h-2m", "--5", "-", "1e3s",
              "nan", "inf", True, False, None, [5], date(2025, 1, 1)],
)
def test_parse_duration_rejects_malformed(value):
    with pytest.raises(InvalidInput) as info:
        parse_duration(value, what="timeout")
    assert str(info.value) == (
        f"invalid timeout {value!r}: expected a duration like \"30s\", \"1h30m\", \"2 days\","
        " a number of seconds or a timedelta"
    )


def test_invalid_input_is_a_value_error():
    with pytest.raises(ValueError, match="invalid duration 'abc'"):
        parse_duration("abc")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-5, "-5"), (-0.5, "-0.5"), ("-5", "'-5'"), ("- 2h", "'- 2h'"),
     (timedelta(seconds=-1), "datetime.timedelta(days=-1, seconds=86399)")],
)
def test_parse_duration_rejects_negative(value, shown):
    with pytest.raises(InvalidInput) as info:
        parse_duration(value, what="timeout")
    assert str(info.value) == f"timeout must not be negative, got {shown}"


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), 10**400, "9" * 400],
)
def test_parse_duration_rejects_non_finite(value):
    with pytest.raises(InvalidInput, match=r"^delay must be a finite duration, got "):
        parse_duration(value, what="delay")


def test_parse_instant_datetimes():
    aware = datetime(2025, 1, 31, 9, 0, tzinfo=timezone.utc)
    assert parse_instant(aware) == 1738314000.0
    naive = datetime(2025, 1, 31, 9, 0)
    assert parse_instant(naive) == naive.timestamp()  # local time


@pytest.mark.parametrize(
    "text", ["2025-01-31T09:00:00Z", "2025-01-31T09:00:00z", " 2025-01-31T09:00:00+00:00 ",
             "2025-01-31T10:00:00+01:00", "2025-01-31T09:00:00.000Z"],
)
def test_parse_instant_iso_strings(text):
    assert parse_instant(text) == 1738314000.0


def test_parse_instant_naive_string_is_local_time():
    assert parse_instant("2025-01-31T09:00:00") == datetime(2025, 1, 31, 9).timestamp()


@pytest.mark.parametrize(("value", "epoch"), [(1738314000, 1738314000.0), (1.5, 1.5), (0, 0.0)])
def test_parse_instant_numbers(value, epoch):
    result = parse_instant(value)
    assert result == epoch
    assert type(result) is float


@pytest.mark.parametrize(
    "value", ["", "tomorrow", "2025-13-01", True, None, float("nan"), float("inf"), 10**400,
              date(2025, 1, 31), datetime.min],
)
def test_parse_instant_rejects(value):
    with pytest.raises(InvalidInput) as info:
        parse_instant(value, what="start time")
    assert str(info.value).startswith(f"invalid start time {value!r}: ")


def test_parse_instant_hints_at_plain_dates():
    with pytest.raises(InvalidInput, match=r"datetime\.combine\(\)"):
        parse_instant(date(2025, 1, 31))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.0004, "0 ms"),
        (0.35, "350 ms"),
        (0.9996, "1 s"),
        (1.2, "1.2 s"),
        (2, "2 s"),
        (9.96, "10 s"),
        (45, "45 s"),
        (59.6, "1 min"),
        (90, "1 min 30 s"),
        (180, "3 min"),
        (3599.6, "1 h"),
        (5400, "1 h 30 min"),
        (10800, "3 h"),
        (10829, "3 h"),
        (187200, "2 d 4 h"),
        (30 * 86400, "30 d"),
        (-90, "-1 min 30 s"),
        (float("inf"), "inf s"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_utc_datetime_is_naive_utc():
    moment = utc_datetime(1738314000.25)
    assert moment == datetime(2025, 1, 31, 9, 0, 0, 250000)
    assert moment.tzinfo is None
    assert utc_datetime(0) == datetime(1970, 1, 1)


def test_iso_utc():
    assert iso_utc(1738314000.25) == "2025-01-31T09:00:00.250Z"
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert parse_instant(iso_utc(1738314000.5)) == 1738314000.5
