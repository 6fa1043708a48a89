"""Values to JSON text and back for the event store, with cloudpickle for what JSON cannot hold.

A value that is exactly plain JSON is stored as that JSON, so SQL can query it. Anything
else is pickled whole into an envelope::

    {"__pw_pickle__": "<base64 cloudpickle>", "type": "module.QualName", "repr": "..."}
"""

from __future__ import annotations

import base64
import json
import math
import traceback
from typing import Any

import cloudpickle

from pyworkflow_nb.errors import SerializationError

__all__ = ["PICKLE_KEY", "RecordedError", "decode", "decode_error", "encode", "encode_error"]

PICKLE_KEY = "__pw_pickle__"
_REPR_LIMIT = 200
_SCALARS = frozenset({str, int, bool, type(None)})
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class RecordedError(Exception):
    """Stands in for a recorded exception that cannot be rebuilt from its pickle.

    Attributes:
        type_name: Module-qualified name of the original exception's type.
        message: ``str()`` of the original exception.
        traceback_text: The original formatted traceback, or ``""``.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.traceback_text))


def encode(value: Any, *, where: str = "value") -> str:
    """Encode a value as JSON text for the store.

    Plain JSON data (None, bool, int, finite float, str, and lists and str-keyed dicts
    of those, not sharing or containing themselves) is stored as compact JSON. Anything
    else, including a dict with the reserved key ``"__pw_pickle__"`` at any depth, is
    cloudpickled whole into an envelope.

    Args:
        value: The value to store.
        where: What the value is, for error messages ("the result of step fetch#1").

    Returns:
        JSON text.

    Raises:
        SerializationError: The value is neither plain JSON nor picklable.
    """
    kind = type(value)
    try:
        if kind is int:
            return repr(value)
        if kind is float and math.isfinite(value):
            return repr(value)
        if value is None:
            return "null"
        if kind is bool:
            return "true" if value else "false"
        if kind is str or _is_plain(value):
            text = _ENCODER.encode(value)
            if not text.isascii():
                text.encode("utf-8")  # a lone surrogate could not be written to the store
            return text
    except (ValueError, RecursionError):  # huge ints, lone surrogates, deep nesting
        pass
    return _envelope(value, where)


def _is_plain(value: Any) -> bool:
    """Tell whether ``value`` is a list or dict tree of plain JSON values, without recursion."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is list:
            items = node
        elif kind is dict:
            for key in node:
                if type(key) is not str:
                    return False
            if PICKLE_KEY in node:
                return False
            items = node.values()
        else:
            return False
        if id(node) in seen:  # shared or cyclic: JSON would lose the identity
            return False
        seen.add(id(node))
        for item in items:
            kind = type(item)
            if kind in _SCALARS:
                continue
            if kind is float:
                if not math.isfinite(item):
                    return False
            else:
                stack.append(item)
    return True


def _envelope(value: Any, where: str) -> str:
    """Pickle ``value`` into the envelope's JSON text."""
    type_name = _type_name(value)
    try:
        data = cloudpickle.dumps(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot store {where}: value of type {type_name} can be stored neither as JSON"
            f" nor with cloudpickle ({exc}); use plain data (dict, list, str, numbers)"
            " or a picklable object"
        ) from exc
    try:
        text = repr(value)
    except Exception:
        text = f"<{type_name} object>"
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 1] + "…"
    envelope = {PICKLE_KEY: base64.b64encode(data).decode("ascii"), "type": type_name,
                "repr": text}
    return json.dumps(envelope, separators=(",", ":"))  # ASCII: escapes any surrogate


def decode(text: str | None) -> Any:
    """Decode JSON text written by :func:`encode`.

    Args:
        text: JSON text as read from the store; ``None`` (SQL NULL) gives ``None``.

    Returns:
        The stored value.

    Raises:
        SerializationError: A pickled value cannot be loaded in this process.
    """
    if text is None:
        return None
    value = json.loads(text)
    if type(value) is dict and PICKLE_KEY in value:
        try:
            return cloudpickle.loads(base64.b64decode(value[PICKLE_KEY]))
        except Exception as exc:
            raise SerializationError(
                f"cannot load a stored value of type {value.get('type', '?')}: {exc}"
            ) from exc
    return value


def encode_error(exc: BaseException) -> dict[str, str]:
    """Describe an exception as a plain-JSON dict.

    Returns:
        ``type`` (module-qualified), ``message``, ``traceback`` (``""`` if the exception
        was never raised) and, when the exception survives a cloudpickle round trip,
        ``pickle`` (base64).
    """
    if isinstance(exc, RecordedError):
        type_name, message = exc.type_name, exc.message
    else:
        type_name = _type_name(exc)
        try:
            message = str(exc)
        except Exception:
            message = f"<unprintable {type_name}>"
    data = {"type": type_name, "message": message, "traceback": ""}
    if exc.__traceback__ is not None:
        data["traceback"] = "".join(traceback.format_exception(exc))
    try:
        pickled = cloudpickle.dumps(exc)
        cloudpickle.loads(pickled)  # e.g. required keyword arguments break unpickling
    except Exception:
        return data
    data["pickle"] = base64.b64encode(pickled).decode("ascii")
    return data


def decode_error(data: dict[str, Any]) -> BaseException:
    """Rebuild an exception from :func:`encode_error`'s dict.

    Returns:
        The original exception when its pickle loads, else a :class:`RecordedError`.
    """
    if "pickle" in data:
        try:
            exc = cloudpickle.loads(base64.b64decode(data["pickle"]))
        except Exception:
            pass
        else:
            if isinstance(exc, BaseException):
                return exc
    return RecordedError(data.get("type", "Exception"), data.get("message", ""),
                         data.get("traceback", ""))


def _type_name(value: Any) -> str:
    """Return the module-qualified name of ``value``'s type."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
