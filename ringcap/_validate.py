"""Argument checks shared by every public entry point.

One place decides what counts as a duration, a timeout or a count, so that
``capture()``, ``capture_to_file()``, ``RxRing.read()`` and the CLI accept
and refuse the same things with the same messages: a bool or a string is a
``TypeError``; NaN, infinity, negative numbers and numbers too large to be
meant are a ``ValueError`` saying what to pass instead.
"""
from __future__ import annotations

import math
import numbers
import sys

__all__ = ["check_seconds", "check_count", "shorten"]

# Longest duration or timeout accepted: a year is longer than anything meant,
# and keeps deadline arithmetic far from float and C-int limits.
MAX_SECONDS = 365 * 24 * 3600.0


def _numpy_types(*names: str) -> tuple:
    """numpy's scalar types of these names, or none while numpy is not loaded (no
    value can be one then: `ringcap -w` never imports numpy)."""
    np = sys.modules.get("numpy")
    return tuple(getattr(np, name) for name in names) if np is not None else ()


def _is_integer(value) -> bool:
    return (isinstance(value, (numbers.Integral, *_numpy_types("integer")))
            and not isinstance(value, (bool, *_numpy_types("bool_"))))


def _is_real(value) -> bool:
    return (isinstance(value, (numbers.Real, *_numpy_types("integer", "floating")))
            and not isinstance(value, (bool, *_numpy_types("bool_"))))


def check_seconds(name: str, value, *, allow_none: bool = False, allow_zero: bool = True,
                  none_means: str = "no limit") -> float | None:
    """``value`` as a finite number of seconds, or None if ``allow_none``.

    Refuses bools and strings (TypeError), NaN, infinity, negative numbers,
    zero unless ``allow_zero``, and anything over a year (ValueError)."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number of seconds, got None")
    if not _is_real(value):
        kind = "a number of seconds or None" if allow_none else "a number of seconds"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {shorten(repr(value))}")
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError(f"{name} must be a number of seconds, got NaN")
    if math.isinf(seconds):
        hint = f"; pass None for {none_means}" if allow_none else ""
        raise ValueError(f"{name} must be a finite number of seconds, got {seconds}{hint}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} seconds, got {value}")
    if seconds > MAX_SECONDS:
        hint = f" (pass None for {none_means})" if allow_none else ""
        raise ValueError(f"{name} must be at most {MAX_SECONDS:.0f} seconds (a year), "
                         f"got {value}{hint}")
    return seconds


def check_count(name: str, value, *, maximum: int = 2**63 - 1, allow_zero: bool = False,
                allow_none: bool = False) -> int | None:
    """``value`` as an int in [1, maximum] ([0, maximum] with ``allow_zero``).

    Refuses bools, floats and strings (TypeError) and out-of-range values
    (ValueError naming the range), so nothing downstream sees an
    ``OverflowError`` from a C conversion."""
    if value is None and allow_none:
        return None
    if not _is_integer(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {shorten(repr(value))}")
    value = int(value)
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def shorten(text: str, limit: int = 120) -> str:
    """``text`` cut to about ``limit`` characters for an error message, saying
    how long it was; a message never embeds a megabyte of user input."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
