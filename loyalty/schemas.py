"""Purchases as tills and loyalty programmes send them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.numbers import JSON_ID_MAX, JsonAwareDatetime, JsonFloat, JsonInt

MAX_BATCH = 1000
Money = Annotated[
    Decimal, Field(ge=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2)
]


class PurchaseLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    quantity: JsonInt = Field(default=1, ge=1, le=10_000)
    amount: Money


class PurchaseIn(BaseModel):
    """One receipt of a member."""

    model_config = ConfigDict(extra="forbid")

    txn_id: str = Field(
        min_length=1,
        max_length=64,
        description="The store's transaction id: sent again, the receipt is not stored twice",
        examples=["T-2026-000123"],
    )
    member_id: str = Field(
        min_length=1,
        max_length=64,
        description="The loyalty member id, as the card shows it; stored only as a keyed hash",
        examples=["M0012345"],
    )
    at: JsonAwareDatetime = Field(description="When the purchase was made (with its offset)")
    amount: Money = Field(description="What the receipt totals, in `currency`")
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"], description="ISO 4217")
    items: JsonInt = Field(ge=1, le=100_000, description="Items on the receipt")
    lines: list[PurchaseLine] | None = Field(default=None, max_length=500)
    refund_of: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A return: the txn_id of the earlier receipt of the same store and member "
        "that it gives money back on; `amount` is what was given back, `items` how many came "
        "back",
        examples=[None],
    )


class StorePurchaseIn(PurchaseIn):
    """A receipt sent by the mall's loyalty programme: it says which store it is of."""

    store: JsonInt = Field(ge=1, le=JSON_ID_MAX, description="The tenant id of the store")


class TillBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchases: list[PurchaseIn] = Field(min_length=1, max_length=MAX_BATCH)


class ProgrammeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchases: list[StorePurchaseIn] = Field(min_length=1, max_length=MAX_BATCH)


class PurchasesStored(BaseModel):
    received: int
    stored: int = Field(description="New receipts (refunds included)")
    duplicates: int = Field(description="Receipts stored before (the same store and txn_id)")
    refunds: int = Field(default=0, description="Of the new receipts, refunds")


class ImportSummary(PurchasesStored):
    seconds: float
    members_new: int


# -- lifecycle: the operator's thresholds, figures by week, one member's view -------------------


class LoyaltyRulesIn(BaseModel):
    """Thresholds of the purchase segments and the lifecycle figures (defaults in brackets)."""

    model_config = ConfigDict(extra="forbid")

    mild_drop: JsonFloat = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Share fewer purchase days a week than the member's own past: mild tier [0.3]",
    )
    severe_drop: JsonFloat = Field(default=0.6, gt=0, le=1, description="Severe tier [0.6]")
    recent_weeks: JsonInt = Field(
        default=8, ge=1, le=52, description="Weeks compared with the member's past [8]"
    )
    baseline_min_days: JsonInt = Field(
        default=3, ge=1, le=100, description="Purchase days a past needs to be a baseline [3]"
    )
    churn_risk_below: JsonFloat = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Chance of still buying under which a member is at churn risk [0.5]",
    )
    top_spender_share: JsonFloat = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of members by predicted value who are top spenders [0.1]",
    )
    lapsed_weeks: JsonInt = Field(
        default=13,
        ge=1,
        le=104,
        description="Weeks without a purchase after which a buyer is lapsed [13]",
    )
    new_member_days: JsonInt = Field(
        default=30,
        ge=1,
        le=365,
        description="Days a member who has not bought yet counts as new [30]",
    )
    activation_days: JsonInt = Field(
        default=30,
        ge=1,
        le=365,
        description="Days from joining within which a first purchase activates a member [30]",
    )
    horizon_weeks: JsonInt = Field(
        default=52, ge=1, le=260, description="Weeks ahead that predicted value covers [52]"
    )

    @model_validator(mode="after")
    def _tiers_in_order(self) -> LoyaltyRulesIn:
        if self.severe_drop <= self.mild_drop:
            raise ValueError("severe_drop must be greater than mild_drop")
        return self


class LoyaltyRulesOut(LoyaltyRulesIn):
    mall_id: int


class LifecycleWeekOut(BaseModel):
    week: date = Field(description="The week's Monday, in the mall's calendar")
    active: int = Field(description="Members with a purchase in the scope this week")
    new: int = Field(description="Mall: members who joined; store: first purchase there")
    activated: int | None = Field(
        description="Of the new members of the mall, those whose "
        "first purchase came within the activation days"
    )
    activation_rate: float | None
    purchases: int
    revenue: Decimal
    purchase_frequency: float | None = Field(description="Purchases per active member")
    average_order_value: Decimal | None
    lapsed: int = Field(description="Bought in the scope before, not in the last lapsed_weeks")


class LifecycleNow(BaseModel):
    computed_at: datetime = Field(description="When the nightly lifecycle job last ran")
    members: int = Field(description="Members in the scope (for a store: who ever bought there)")
    p_alive: dict[str, int] = Field(
        description="Members by the model's chance that they still buy (churn risk is the low end)"
    )
    predicted_value: Decimal = Field(
        description="Their predicted spend over the horizon, in the whole mall"
    )
    model: dict[str, Any] = Field(description="The fitted parameters and what they rest on")


class LifecycleOut(BaseModel):
    mall_id: int
    tenant_id: int | None = Field(description="The store, or null for the whole mall")
    segment: str | None = Field(description="The members' current segment, or null for all")
    currency: str | None = Field(description="Of revenue and values (the mall's receipts)")
    now: LifecycleNow | None = Field(description="Null until the job first ran")
    weeks: list[LifecycleWeekOut]


class MemberLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=64, description="As the card shows it")


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(
        description="visit | dwell | push | holdout | open | redemption | purchase | refund"
    )
    zone_id: int | None = None
    zone: str | None = None
    level: int | None = None
    tenant_id: int | None = None
    promotion_id: int | None = None
    minutes: float | None = None
    amount: Decimal | None = None
    currency: str | None = None
    items: int | None = None


class StandingOut(BaseModel):
    computed_at: datetime
    segments: list[str]
    since: dict[str, date]
    tier: str | None
    frequency_drop: float | None
    purchases: int
    last_purchase: date | None
    p_alive: float | None
    expected_purchases: float | None
    expected_spend: float | None
    predicted_value: float | None


class MemberViewOut(BaseModel):
    mall_id: int
    member: int = Field(description="mallcast's own number for the member (not their id)")
    devices: int = Field(description="Devices linked to the member")
    standing: StandingOut | None = Field(description="Null until the nightly job saw them")
    timeline: list[TimelineEntry] = Field(description="Newest first")
    truncated: bool = Field(description="Older entries were left off")
