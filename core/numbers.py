"""JSON numbers as the floats mallcast computes with. Pure.

JSON puts no bound on a number: `1e400` parses as infinity and a 400-digit integer as a Python
int that `float()` cannot hold (OverflowError). Both are a client's mistake, never a crash.
"""

from __future__ import annotations

import math


def finite_float(value: object) -> float | None:
    """`value` as a finite float; None for anything else (a string, a bool, NaN, an infinity,
    an integer beyond a float's range)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def is_number(value: object) -> bool:
    """A JSON number, of any size (bools are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
