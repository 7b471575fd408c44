"""Argument checks shared by the public constructors: one wording, one place."""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["is_finite", "is_number", "seconds", "type_name"]


def seconds(what: str, value: object, *, positive: bool = False, finite: bool = False) -> float:
    """``value`` as a float number of seconds, or TypeError/ValueError naming ``what``.

    ``bool`` is not a number of seconds; NaN and negatives are refused (zero too when
    ``positive``), infinity when ``finite``; an int too large for a float is a
    ValueError rather than the bare OverflowError that ``float()`` raises.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{what} is too large: {value!r}") from None
    bad_sign = result < 0 or (positive and result == 0)
    if math.isnan(result) or bad_sign or (finite and math.isinf(result)):
        wanted = "a positive finite number" if positive and finite else "> 0" if positive else ">= 0"
        if finite and not positive:
            wanted += " and finite"
        raise ValueError(f"{what} must be {wanted}, not {value!r}")
    return result


def type_name(value: object) -> str:
    return type(value).__name__


def is_number(value: object) -> bool:
    """A real number (of seconds); ``bool`` is not one."""
    return isinstance(value, Real) and not isinstance(value, bool)


def is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False
