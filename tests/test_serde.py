import base64
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import IntEnum

import pytest

from pyworkflow_nb.errors import SerializationError, WorkflowFailed
from pyworkflow_nb.serde import (
    PICKLE_KEY,
    RecordedError,
    decode,
    decode_error,
    encode,
    encode_error,
)


@dataclass
class Point:
    x: int
    y: int


class Color(IntEnum):
    RED = 1


class Unpicklable:
    def __reduce__(self):
        raise TypeError("no pickling here")


class BadRepr:
    def __eq__(self, other):
        return type(other) is BadRepr

    def __repr__(self):
        raise RuntimeError("no repr")


class UnpicklableError(Exception):
    def __reduce__(self):
        raise TypeError("no pickling here")


class BadStrError(Exception):
    def __str__(self):
        raise RuntimeError("no str")


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def envelope_of(value):
    data = json.loads(encode(value))
    assert set(data) == {PICKLE_KEY, "type", "repr"}
    return data


PLAIN = [
    None,
    True,
    False,
    0,
    -7,
    2**100,
    1.5,
    -0.0,
    1e308,
    "",
    "héllo wörld ✓ 日本語 🎉",
    [],
    {},
    [1, "a", None, True, 2.5, [], {}],
    {"a": {"b": [1, {"c": ["d", None]}]}, "e": [[[]]]},
    list(range(100_000)),
    [{"i": i, "s": str(i)} for i in range(10_000)],
]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_are_stored_as_json(value):
    text = encode(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == value
    decoded = decode(text)
    assert decoded == value
    assert type(decoded) is type(value)


def test_plain_json_is_queryable_text():
    text = encode({"user": {"name": "Zoë", "tags": ["a", "b"]}, "n": 3})
    assert text == '{"user":{"name":"Zoë","tags":["a","b"]},"n":3}'
    assert json.loads(text)["user"]["tags"][1] == "b"


def test_deep_nesting_round_trips():
    value: list = []
    for i in range(300):
        value = [i, {"k": value}]
    text = encode(value)
    assert text.startswith('[299,{"k":[298,{"k":')
    assert decode(text) == value


NOT_PLAIN = [
    (1, 2, (3,)),
    {1, 2, 3},
    frozenset({"a"}),
    b"\x00\xffbytes",
    bytearray(b"abc"),
    datetime(2025, 1, 31, 9, tzinfo=timezone.utc),
    Point(1, 2),
    float("nan"),
    float("inf"),
    [1.0, float("-inf")],
    {1: "one", 2: "two"},
    {"outer": {(1, 2): "tuple key"}},
    {PICKLE_KEY: "not an envelope"},
    {"a": [{"b": {PICKLE_KEY: 1}}]},
    [1, (2, 3)],
    OrderedDict(a=1),
    Color.RED,
    10**5000,
    "lone \ud800 surrogate",
    complex(1, 2),
]


@pytest.mark.parametrize("value", NOT_PLAIN, ids=lambda v: type(v).__name__)
def test_other_values_are_pickled(value):
    data = envelope_of(value)
    assert data["type"] == qualified(type(value))
    decoded = decode(encode(value))
    assert type(decoded) is type(value)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value


def test_tuple_stays_a_tuple():
    assert decode(encode((1, (2, 3), [4]))) == (1, (2, 3), [4])


def test_nested_non_json_pickles_the_whole_value():
    value = {"when": datetime(2025, 1, 31), "items": [1, 2]}
    data = envelope_of(value)
    assert data["type"] == "builtins.dict"
    assert decode(encode(value)) == value


def test_envelope_fields():
    data = envelope_of(Point(1, 2))
    assert data["type"] == qualified(Point)
    assert data["repr"] == "Point(x=1, y=2)"
    assert decode(encode(Point(1, 2))) == Point(1, 2)
    assert base64.b64decode(data[PICKLE_KEY])


def test_envelope_repr_is_truncated():
    data = envelope_of(tuple(range(1000)))
    assert len(data["repr"]) == 200
    assert data["repr"].startswith("(0, 1, 2")
    assert data["repr"].endswith("…")


def test_envelope_survives_a_failing_repr():
    data = envelope_of(BadRepr())
    assert data["repr"] == f"<{qualified(BadRepr)} object>"
    assert decode(encode(BadRepr())) == BadRepr()


def test_envelope_text_is_ascii():
    assert encode(("ünïcode", "\ud800")).isascii()


def test_shared_and_cyclic_lists_keep_their_identity():
    shared = [1]
    pair = decode(encode([shared, shared]))
    assert pair == [[1], [1]]
    assert pair[0] is pair[1]
    cyclic: list = []
    cyclic.append(cyclic)
    decoded = decode(encode(cyclic))
    assert decoded[0] is decoded


def test_decode_null_and_plain_text():
    assert decode(None) is None
    assert decode("null") is None
    assert decode(' {"a": [1, 2]} ') == {"a": [1, 2]}


def test_decode_reports_an_unloadable_pickle():
    text = json.dumps({PICKLE_KEY: base64.b64encode(b"garbage").decode(), "type": "x.Y"})
    with pytest.raises(SerializationError, match=r"cannot load a stored value of type x\.Y"):
        decode(text)


def test_unpicklable_value_raises_serialization_error():
    with pytest.raises(SerializationError) as info:
        encode({"conn": Unpicklable()}, where="the result of step fetch#1")
    assert str(info.value) == (
        "cannot store the result of step fetch#1: value of type builtins.dict can be stored"
        " neither as JSON nor with cloudpickle (no pickling here); use plain data (dict, list,"
        " str, numbers) or a picklable object"
    )
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value.__cause__, TypeError)


def test_unpicklable_value_names_its_type():
    with pytest.raises(SerializationError, match=f"value of type {qualified(Unpicklable)} "):
        encode(Unpicklable())


def raise_value_error():
    raise ValueError("bad input: 42")


def test_error_round_trip_keeps_the_exception():
    try:
        raise_value_error()
    except ValueError as exc:
        data = encode_error(exc)
    assert json.loads(json.dumps(data)) == data
    assert data["type"] == "builtins.ValueError"
    assert data["message"] == "bad input: 42"
    assert "raise_value_error" in data["traceback"]
    assert data["traceback"].endswith("ValueError: bad input: 42\n")
    rebuilt = decode_error(data)
    assert type(rebuilt) is ValueError
    assert str(rebuilt) == "bad input: 42"


def test_error_never_raised_has_empty_traceback():
    assert encode_error(KeyError("k"))["traceback"] == ""


def test_unpicklable_error_comes_back_as_recorded_error():
    data = encode_error(UnpicklableError("socket closed"))
    assert "pickle" not in data
    rebuilt = decode_error(data)
    assert type(rebuilt) is RecordedError
    assert rebuilt.type_name == qualified(UnpicklableError)
    assert rebuilt.message == "socket closed"
    assert rebuilt.traceback_text == ""
    assert str(rebuilt) == f"{qualified(UnpicklableError)}: socket closed"


def test_error_that_cannot_be_unpickled_is_not_pickled():
    # Pickling works but unpickling fails: __init__ needs the keyword-only run_id.
    data = encode_error(WorkflowFailed("boom", run_id="r1"))
    assert "pickle" not in data
    assert str(decode_error(data)) == "pyworkflow_nb.errors.WorkflowFailed: boom"


def test_error_with_a_broken_pickle_comes_back_as_recorded_error():
    data = encode_error(ValueError("x"))
    data["pickle"] = base64.b64encode(b"garbage").decode()
    assert type(decode_error(data)) is RecordedError


def test_error_with_a_failing_str():
    data = encode_error(BadStrError())
    assert data["message"] == f"<unprintable {qualified(BadStrError)}>"


def test_recorded_error_keeps_the_original_type_when_stored_again():
    recorded = RecordedError("mod.Boom", "it broke", "Traceback ...")
    data = encode_error(recorded)
    assert (data["type"], data["message"]) == ("mod.Boom", "it broke")
    again = decode_error(data)
    assert type(again) is RecordedError
    assert (again.type_name, again.message, again.traceback_text) == (
        "mod.Boom", "it broke", "Traceback ...",
    )
