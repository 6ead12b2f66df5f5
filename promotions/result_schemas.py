"""Answers of the analytics: funnels, conversion and lift, revenue lift, days, segment sizes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from promotions.measurement import Lift, RevenueLift


class Funnel(BaseModel):
    sent: int = Field(description="Decided to push")
    delivered: int = Field(description="Accepted by FCM")
    held_out: int = Field(description="Chosen, not pushed: the holdout")
    opened: int
    eligible_shoppers: int
    treated: int
    holdout: int
    redeemed: int
    treated_conversions: int
    holdout_conversions: int
    lift: Lift = Field(description="Treated vs held-out conversion, lift with a 95% interval")


class PromotionResults(Funnel):
    id: int
    tenant_id: int
    title: str


class TotalResults(Funnel):
    pushes_per_shopper_day_max: int
    pushes_per_shopper_day_mean: float


class ResultsOut(BaseModel):
    mall_id: int
    tenant_id: int | None = Field(description="Set when the results are one tenant's")
    total: TotalResults
    promotions: list[PromotionResults]


class TierRevenue(BaseModel):
    tier: str = Field(
        description="all: every pair; base: the offer's own text; mild, severe: that variant"
    )
    revenue: RevenueLift = Field(description="Treated against held out, with 95% intervals")


class PromotionRevenue(BaseModel):
    id: int
    tenant_id: int
    title: str
    tiers: list[TierRevenue]


class RevenueOut(BaseModel):
    mall_id: int
    tenant_id: int | None = Field(description="Set when the results are one tenant's")
    currency: str | None = Field(description="Of revenue and order value (the mall's receipts)")
    purchase_window_days: int = Field(
        description="A purchase in the offer's store within this "
        "many days of the push (or its holdout) converts"
    )
    churn_window_days: int = Field(
        description="No purchase in the mall within this many days "
        "is churn (pairs whose window has not ended are left out)"
    )
    promotions: list[PromotionRevenue]


class DayResults(BaseModel):
    day: date = Field(description="A day of the mall's calendar")
    promotion_id: int
    tenant_id: int
    sent: int
    held_out: int
    delivered: int
    opened: int
    redeemed: int
    computed_at: datetime


class DayLift(BaseModel):
    day: date = Field(description="A day of the mall's calendar")
    lift: Lift = Field(
        description="Treated vs held-out conversion of everyone chosen up to the "
        "end of this day, with its 95% interval"
    )


class SegmentSizesOut(BaseModel):
    mall_id: int
    computed_at: datetime | None = Field(description="When the nightly recompute last ran")
    shoppers: int
    segments: dict[str, int]
