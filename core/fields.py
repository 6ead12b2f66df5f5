"""Pydantic field helpers that API shapes of several packages share."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def _is_none(value: object) -> bool:
    return value is None


def omitted_when_none(**field: Any) -> Any:
    """An optional answer field that is left out of the JSON, rather than null, when unset:
    for keys whose presence means something (a decision's title only when a promotion was
    chosen)."""
    return Field(default=None, exclude_if=_is_none, **field)
