"""Shapes the API shares across audiences: the error body and the health report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable reason", examples=["invalid_geometry"])
    message: str = Field(description="What is wrong and what to fix")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route documents."""
    descriptions = {
        400: "Malformed request (e.g. JSON syntax)",
        401: "Missing, unknown or revoked credentials",
        403: "The caller's role may not do this",
        404: "Not found, or not visible to the caller",
        409: "Conflicts with existing data (e.g. a duplicate name)",
        412: "`If-Match` names a version that is no longer the current one: read it again",
        413: "Body or batch too large",
        422: "Well-formed but invalid content; `details` says where",
    }
    return {status: {"model": ErrorOut, "description": descriptions[status]} for status in statuses}


class DatabaseHealth(BaseModel):
    postgresql: str
    postgis: str


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    version: str
    database: DatabaseHealth
