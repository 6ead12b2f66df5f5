"""Request and response shapes of the promotions domain."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.fields import omitted_when_none
from core.numbers import JSON_ID_MAX, JsonBool, JsonDatetime, JsonFloat, JsonInt

# -- promotions -----------------------------------------------------------------------------

# enter, dwell, exit: a zone event; segment: a member entering one of audience.segments (the
# nightly lifecycle job files them), delivered in the mall's next send window.
Trigger = Literal["enter", "dwell", "exit", "segment"]
Tier = Literal["mild", "severe"]
PromotionStatus = Literal["draft", "submitted", "approved", "rejected", "paused", "ended"]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", examples=["17:00"])]


LocaleKey = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def _words(value: str) -> str:
    if not value.strip():
        raise ValueError("a notification needs words: this holds only spaces")
    return value


def _safe_link(value: str) -> str:
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", value)
    if scheme is None:
        raise ValueError("a deep link is an absolute URI: mallapp://offer/1 or https://...")
    if scheme[1].lower() in _UNSAFE_SCHEMES:
        raise ValueError(f"a deep link may not be a {scheme[1].lower()}: URI (it runs code or "
                         "reads files in the app that opens it)")  # fmt: skip
    return value


# Schemes an app's web view would run or read instead of navigating to.
_UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob", "about", "content"})

# What the phone shows: title and body hold words. The image is fetched by the phone over
# HTTPS (iOS loads nothing else); a deep link is opened by the app.
PushTitle = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_words)]
PushBody = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_words)]
ImageUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], max_length=2083,
                                            host_required=True)]  # fmt: skip
DeepLink = Annotated[str, Field(max_length=2048, examples=["mallapp://offer/1"]),
                     AfterValidator(_safe_link)]  # fmt: skip


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: PushTitle
    body: PushBody


class Variant(BaseModel):
    """The offer as a member of one frequency-drop tier gets it (e.g. 10% for a mild drop, 25%
    for a severe one)."""

    model_config = ConfigDict(extra="forbid")

    tier: Tier
    title: PushTitle = Field(examples=["25% off, just for you"])
    body: PushBody
    translations: dict[LocaleKey, Text] = Field(default_factory=dict)


def _one_variant_a_tier(variants: list[Variant]) -> list[Variant]:
    tiers = [variant.tier for variant in variants]
    if len(set(tiers)) != len(tiers):
        raise ValueError("one variant a tier")
    return variants


Variants = Annotated[list[Variant], AfterValidator(_one_variant_a_tier)]


class Targets(BaseModel):
    """Where the promotion fires: zones of the tenant's store, zones the operator opens to
    tenants (by id or by kind), or the mall visit itself; optionally only on some levels. At
    least one of zones, kinds or mall."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [
            {"required": ["zones"], "properties": {"zones": {"minItems": 1}}},
            {"required": ["kinds"], "properties": {"kinds": {"minItems": 1}}},
            {"required": ["mall"], "properties": {"mall": {"const": True}}},
        ]},
    )  # fmt: skip

    zones: list[Annotated[JsonInt, Field(ge=1, le=JSON_ID_MAX)]] = Field(default_factory=list,
                                                                   max_length=500)  # fmt: skip
    kinds: list[str] = Field(default_factory=list, max_length=20, examples=[["food_court"]])
    mall: JsonBool = Field(default=False, description="The whole mall (visit events)")
    levels: list[JsonInt] | None = Field(default=None, description="Only events on these levels")


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[str] = Field(min_length=1, examples=[["weekdays"], ["sat", "sun"]])
    start: HHMM
    end: HHMM = Field(description="Not after start: the window runs past midnight")


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: JsonDatetime | None = Field(default=None, description="Default: from approval")
    ends_at: JsonDatetime | None = None
    windows: list[Window] = Field(
        default_factory=list, max_length=20, description="Mall local time; none: any time"
    )


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: list[str] = Field(default_factory=list, examples=[["lapsed"]])
    interests: list[str] = Field(default_factory=list, examples=[["coffee"]])
    visitors: Literal["any", "new", "returning"] = "any"


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_shopper_per_day: JsonInt | None = Field(default=1, ge=1, le=100)
    per_shopper_total: JsonInt | None = Field(default=None, ge=1, le=1000)
    pushes_per_day: JsonInt | None = Field(default=None, ge=1, le=10_000_000)
    budget_pushes: JsonInt | None = Field(default=None, ge=1, le=100_000_000)


class RedemptionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: Literal["unique", "none"] = Field(
        default="unique", description="A code per push, checked by the store"
    )


class PromotionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: PushTitle = Field(examples=["Two coffees, one price"])
    body: PushBody
    translations: dict[LocaleKey, Text] = Field(
        default_factory=dict, examples=[{"zh-CN": {"title": "买一送一", "body": "今晚有效"}}]
    )
    image_url: ImageUrl | None = None
    deep_link: DeepLink | None = None
    category: str = Field(min_length=1, max_length=64, examples=["cafe"])
    targets: Targets
    trigger: Trigger = "enter"
    schedule: Schedule = Field(default_factory=Schedule)
    audience: Audience = Field(default_factory=Audience)
    limits: Limits = Field(default_factory=Limits)
    redemption: RedemptionSettings = Field(default_factory=RedemptionSettings)
    priority: JsonInt = Field(default=50, ge=0, le=100)
    variants: Variants = Field(
        default_factory=list, max_length=2,
        description="Per frequency-drop tier; a member without a tier gets title and body",
    )  # fmt: skip


class PromotionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: PushTitle | None = None
    body: PushBody | None = None
    translations: dict[LocaleKey, Text] | None = None
    image_url: ImageUrl | None = None
    deep_link: DeepLink | None = None
    category: str | None = Field(default=None, min_length=1, max_length=64)
    targets: Targets | None = None
    trigger: Trigger | None = None
    schedule: Schedule | None = None
    audience: Audience | None = None
    limits: Limits | None = None
    redemption: RedemptionSettings | None = None
    priority: JsonInt | None = Field(default=None, ge=0, le=100)
    variants: Variants | None = Field(default=None, max_length=2)

    @field_validator(
        "title", "body", "translations", "category", "targets", "trigger", "schedule",
        "audience", "limits", "redemption", "priority", "variants", mode="before",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Only image_url and deep_link may be cleared with null; the others are left out to
        # keep them as they are.
        if value is None:
            raise ValueError(f"{info.field_name} cannot be null: leave it out to keep it")
        return value


class PromotionOut(PromotionCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    mall_id: int
    tenant_id: int
    status: PromotionStatus
    active: bool = Field(description="Approved, and within its dates now")
    rejection_reason: str | None
    submitted_at: datetime | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: str = Field(
        description="Changes with every change of the promotion; send it as `If-Match` to "
        "approve or reject exactly what you read"
    )


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


# -- mall rules -------------------------------------------------------------------------------


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fact: Literal["visits_total", "visits_30d", "days_since_previous_visit", "median_gap_days",
                  "redemptions", "opens", "pushes", "loyalty_tier"]  # fmt: skip
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    value: JsonFloat | str = Field(description="A number; a text for loyalty_tier (== or != only)")

    @model_validator(mode="after")
    def _comparable(self) -> Condition:
        # A number compared with a text never matches: refused here rather than never firing.
        if self.fact == "loyalty_tier":
            if not isinstance(self.value, str) or self.op not in ("==", "!="):
                raise ValueError("loyalty_tier compares with a text, by == or != only")
        elif not isinstance(self.value, int | float) or isinstance(self.value, bool):
            raise ValueError(f"{self.fact} is a number: compare it with a number, not a text")
        return self


class SegmentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", examples=["weekend_regulars"])
    all: list[Condition] = Field(min_length=1, max_length=10)


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: HHMM = "22:00"
    end: HHMM = "09:00"


class MallRulesIn(BaseModel):
    """The mall's rules for every promotion (defaults in brackets are what a new mall gets)."""

    model_config = ConfigDict(extra="forbid")

    max_pushes_per_day: JsonInt = Field(default=3, ge=0, le=50, description="Per shopper [3]")
    min_gap_minutes: JsonInt = Field(default=30, ge=0, le=1440, description="Between two pushes")
    quiet_hours: QuietHoursIn | None = Field(
        default_factory=QuietHoursIn, description="Mall local time; null: none [22:00-09:00]"
    )
    tenant_daily_cap: JsonInt | None = Field(
        default=500, ge=1, description="Pushes per tenant a day"
    )
    tenant_zone_kinds: list[str] = Field(
        default_factory=lambda: ["food_court", "entrance", "atrium", "corridor"],
        description="Kinds of mall zones tenants may target",
    )
    tenant_zone_ids: list[JsonInt] = Field(
        default_factory=list, description="Further zones tenants may target"
    )
    tenants_may_target_mall: JsonBool = Field(default=True, description="The whole mall (visits)")
    holdout_share: JsonFloat = Field(default=0.10, ge=0, le=0.5)
    min_confidence: JsonFloat = Field(
        default=0.9,
        ge=0,
        le=1,
        description="A store entered with less confidence than this "
        "(occupancy inference's probability that the shopper is inside) triggers no offer [0.9]",
    )
    attribution_window_hours: JsonInt = Field(default=48, ge=1, le=24 * 30)
    segments: list[SegmentDefinition] = Field(default_factory=list, max_length=50)
    send_windows: list[Window] = Field(
        default_factory=lambda: [Window(days=["weekdays"], start="18:00", end="21:00"),
                                 Window(days=["weekend"], start="10:00", end="20:00")],
        max_length=20,
        description="Mall local time: when offers triggered by a member's behaviour (entering "
        "a segment) go out [weekdays 18:00-21:00, weekends 10:00-20:00]",
    )  # fmt: skip
    purchase_window_days: JsonInt = Field(
        default=7, ge=1, le=90, description="A purchase within this many days of a push (or "
        "of its holdout) converts it, for revenue lift [7]",
    )  # fmt: skip
    churn_window_days: JsonInt = Field(
        default=60, ge=7, le=365, description="No purchase within this many days of a push "
        "(or its holdout) is churn, for revenue lift [60]",
    )  # fmt: skip


class MallRulesOut(MallRulesIn):
    mall_id: int


class CodeRedemption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=32, examples=["K7PX2QMA"])


# -- answers: outcomes, results, explanations ---------------------------------------------------


class OpenedOut(BaseModel):
    decision_id: int
    opened_at: datetime | None


class RedemptionOut(BaseModel):
    promotion_id: int
    decision_id: int | None = Field(description="The push (or holdout) it is attributed to")
    redeemed_at: datetime


class PromotionVerdict(BaseModel):
    """One promotion's fate in one decision: chosen, dropped (why) or outranked (by how much)."""

    chosen: bool
    outcome: str | None = omitted_when_none()
    score: dict[str, float] | None = omitted_when_none()
    dropped_because: list[str] | None = omitted_when_none()
    outranked: bool | None = omitted_when_none()
    winner_score: dict[str, float] | None = omitted_when_none()


class DecisionExplained(BaseModel):
    decision_id: int
    event_id: int | None
    at: datetime
    outcome: str
    promotion_id: int | None
    reason: str | None
    segments: list[str]
    opened_at: datetime | None
    explanation: dict[str, Any] | None = omitted_when_none(
        description="Without ?promotion_id: the whole record"
    )
    for_promotion: PromotionVerdict | None = omitted_when_none(
        description="With ?promotion_id: that one's fate"
    )
