"""Tenants as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["STARBUCKS COFFEE"])
    category: str = Field(min_length=1, max_length=64, examples=["cafe"])


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=64)


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mall_id: int
    name: str
    category: str
    created_at: datetime


class TenantMe(BaseModel):
    """Who a tenant key belongs to."""

    tenant_id: int
    mall_id: int
    name: str
    category: str
