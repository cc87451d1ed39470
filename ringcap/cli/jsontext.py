"""``json.dumps(document, indent=1)`` for the reports the command line prints.

``stats --json`` writes one document of dicts, lists, strings, numbers,
booleans and None.  Importing :mod:`json` (its decoder, scanner and pure-Python
encoder, which ``indent`` selects) was 5.4 M of the 109 M instructions of
``ringcap stats --json`` on a one-packet file, and encoding a report 0.7 ms
more; this writes the same bytes with the C string escaper json itself uses,
and hands anything else (keys that are not strings, other types) to
:func:`json.dumps`, imported then, for its output or its error.
"""
from __future__ import annotations

from _json import encode_basestring_ascii as _string

_FLOAT_REPR = float.__repr__
_INT_REPR = int.__repr__


class _Other(Exception):
    """A value json encodes its own way (or refuses): the caller asks json."""


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return _FLOAT_REPR(value)


def _encode(value, depth: int, out: list) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(_INT_REPR(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = "\n" + " " * (depth + 1)
        separator = "{"
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Other
            out.append(separator + inner + _string(key) + ": ")
            _encode(item, depth + 1, out)
            separator = ","
        out.append("\n" + " " * depth + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = "\n" + " " * (depth + 1)
        separator = "["
        for item in value:
            out.append(separator + inner)
            _encode(item, depth + 1, out)
            separator = ","
        out.append("\n" + " " * depth + "]")
    else:
        raise _Other


def dumps_indent1(document) -> str:
    """``json.dumps(document, indent=1)``, byte for byte."""
    out: list[str] = []
    try:
        _encode(document, 0, out)
    except (_Other, RecursionError):
        import json             # (what json alone encodes, or refuses, as it does)
        return json.dumps(document, indent=1)
    return "".join(out)
