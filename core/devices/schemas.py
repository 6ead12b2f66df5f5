"""Request and response shapes of shopper devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.numbers import JSON_ID_MAX, JsonBool, JsonInt

Locale = str  # BCP 47, e.g. "zh-CN", "en"
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
Interest = str


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: JsonBool = Field(default=False, description="Processing of location pings")
    marketing_push: JsonBool = Field(default=False, description="Promotional push notifications")
    loyalty: JsonBool = Field(
        default=False,
        description="Linking this device to the shopper's loyalty membership "
        "(PUT /v1/devices/me/member), so that purchases and visits are seen together",
    )


class ConsentsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: JsonBool | None = None
    marketing_push: JsonBool | None = None
    loyalty: JsonBool | None = Field(default=None, description="false unlinks the membership")


class QuietHours(BaseModel):
    """The shopper's own quiet hours, in the mall's local time; past midnight when end <= start."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["10:00"])


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["android", "ios", "web"]
    app_version: str = Field(default="", max_length=64)
    locale: Locale = Field(default="en", pattern=LOCALE_PATTERN, max_length=35)
    fcm_token: str | None = Field(
        default=None, min_length=1, max_length=4096, description="FCM registration token"
    )
    fcm_fid: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Firebase installation ID (preferred by firebase-admin 7.5+ over the token)",
    )
    consents: Consents = Field(default_factory=Consents)
    interests: list[Interest] = Field(default_factory=list, max_length=50)
    loyalty_tier: str | None = Field(default=None, max_length=32, examples=["gold"])
    quiet_hours: QuietHours | None = None


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_version: str | None = Field(default=None, max_length=64)
    locale: Locale | None = Field(default=None, pattern=LOCALE_PATTERN, max_length=35)
    fcm_token: str | None = Field(
        default=None, min_length=1, max_length=4096, description="null removes the token"
    )
    fcm_fid: str | None = Field(
        default=None, min_length=1, max_length=200, description="null removes the installation ID"
    )
    consents: ConsentsPatch | None = None
    interests: list[Interest] | None = Field(default=None, max_length=50)
    loyalty_tier: str | None = Field(default=None, max_length=32)
    quiet_hours: QuietHours | None = Field(default=None, description="null removes them")


class DeviceOut(BaseModel):
    device_id: uuid.UUID
    platform: str
    app_version: str
    locale: str
    has_fcm_token: bool
    has_fcm_fid: bool
    consents: Consents
    member_linked: bool = Field(description="Linked to a loyalty membership (never shown)")
    interests: list[str]
    loyalty_tier: str | None
    quiet_hours: QuietHours | None
    created_at: datetime


class MemberLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mall_id: JsonInt = Field(ge=1, le=JSON_ID_MAX, description="The mall whose programme it is")
    member_id: str = Field(
        min_length=1,
        max_length=64,
        description="As the card shows it; stored only as a keyed hash, never shown again",
    )


class DeviceRegistered(BaseModel):
    device_id: uuid.UUID
    token: str = Field(description="Bearer token of this device; keep it, it is shown once")
    device: DeviceOut
