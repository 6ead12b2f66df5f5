"""Purchases as tills and loyalty programmes send them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.numbers import JsonInt

MAX_BATCH = 1000
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), max_digits=12,
                                 decimal_places=2)]  # fmt: skip


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
    at: AwareDatetime = Field(description="When the purchase was made (with its offset)")
    amount: Money = Field(description="What the receipt totals, in `currency`")
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"], description="ISO 4217")
    items: JsonInt = Field(ge=1, le=100_000, description="Items on the receipt")
    lines: list[PurchaseLine] | None = Field(default=None, max_length=500)


class StorePurchaseIn(PurchaseIn):
    """A receipt sent by the mall's loyalty programme: it says which store it is of."""

    store: JsonInt = Field(ge=1, le=2**63 - 1, description="The tenant id of the store")


class TillBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchases: list[PurchaseIn] = Field(min_length=1, max_length=MAX_BATCH)


class ProgrammeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchases: list[StorePurchaseIn] = Field(min_length=1, max_length=MAX_BATCH)


class PurchasesStored(BaseModel):
    received: int
    stored: int = Field(description="New receipts")
    duplicates: int = Field(description="Receipts stored before (the same store and txn_id)")


class ImportSummary(PurchasesStored):
    seconds: float
    members_new: int
