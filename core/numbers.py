"""JSON numbers and booleans as mallcast reads them. Pure.

JSON puts no bound on a number: `1e400` parses as infinity and a 400-digit integer as a Python
int that `float()` cannot hold (OverflowError). Both are a client's mistake, never a crash.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator


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


def _number_not_text(value: object) -> object:
    # JSON Schema's integer and number: 7 and 7.0, never "7" nor true.
    if isinstance(value, str | bytes | bool):
        raise ValueError("a JSON number is expected")
    return value


def _text_not_number(value: object) -> object:
    # A date-time in JSON is RFC 3339 text; pydantic's lax mode would read 0 as 1970-01-01.
    if isinstance(value, int | float | bool):
        raise ValueError("a date-time is text (RFC 3339 with its offset), not a number")
    return value


def _only_boolean(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("true or false is expected")
    return value


# Request fields as JSON types them: pydantic's lax mode would take "1" for 1 and 0 for false,
# and its strict mode would refuse 7.0 for an integer, which JSON Schema allows.
JsonInt = Annotated[int, BeforeValidator(_number_not_text)]
# The largest id a JSON body may carry. JSON Schema validators compare numbers as doubles, which
# cannot tell 2**63 - 1 from 2**63 + 192: a client (or Schemathesis) would call such an id
# valid and the server refuse it. Ids in paths and query strings are text, exact to 2**63 - 1.
JSON_ID_MAX = 2**53 - 1
JsonFloat = Annotated[float, BeforeValidator(_number_not_text)]
JsonBool = Annotated[bool, BeforeValidator(_only_boolean)]
JsonDatetime = Annotated[datetime, BeforeValidator(_text_not_number)]
JsonAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_text_not_number)]
