"""Promotions through their lifecycle, and the mall's rules. One transaction per use case.

    draft --submit--> submitted --approve--> approved <--pause/resume--> paused
      ^                   |                      |
      +----edit-----  rejected                 end --> ended

A tenant sees and changes only its own promotions (others are 404); only drafts and rejected
promotions can be edited, and editing a rejected one makes it a draft again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import put_row, utcnow
from core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from core.members.models import PURCHASE_SEGMENTS
from core.zones import ZoneFact
from promotions.models import MallRules, Promotion
from promotions.payload import FCM_PAYLOAD_LIMIT, largest_payload
from promotions.schedule import parse_days
from promotions.schemas import (
    MallRulesIn,
    PromotionCreate,
    PromotionOut,
    PromotionUpdate,
    Window,
)

BUILTIN_SEGMENTS = ("new", "returning", "frequent", "lapsed", "high_value")
_EDITABLE = ("draft", "rejected")


# -- mall rules ---------------------------------------------------------------------------------


def get_rules(session: Session, mall_id: int) -> MallRulesIn:
    row = session.get(MallRules, mall_id)
    return MallRulesIn.model_validate(row.rules) if row else MallRulesIn()


def put_rules(
    session: Session, mall_id: int, rules: MallRulesIn, zones: Mapping[int, ZoneFact]
) -> MallRulesIn:
    """`zones`: the mall's zones among `rules.tenant_zone_ids` (another mall's are absent)."""
    foreign = [zone_id for zone_id in rules.tenant_zone_ids if zone_id not in zones]
    if foreign:
        # Not "exists elsewhere": whether an id is another mall's zone is not this caller's to know.
        raise InvalidInput(
            f"tenant_zone_ids names zones this mall does not have: {foreign[:20]}",
            code="unknown_zone", details={"field": "body.tenant_zone_ids", "zone_ids": foreign},
        )  # fmt: skip
    names = [segment.name for segment in rules.segments]
    clash = set(names) & set(BUILTIN_SEGMENTS) or {n for n in names if names.count(n) > 1}
    if clash:
        raise InvalidInput(
            f"segment names must be unique and not built in: {sorted(clash)}",
            code="duplicate_segment",
        )
    _check_windows(rules.send_windows, "send_windows")
    put_row(session, MallRules, "mall_id", {"mall_id": mall_id,
                                            "rules": rules.model_dump(mode="json")})  # fmt: skip
    return rules


# -- tenants' side ------------------------------------------------------------------------------


def create_promotion(
    session: Session,
    *,
    mall_id: int,
    tenant_id: int,
    data: PromotionCreate,
    zones: Mapping[int, ZoneFact],
) -> Promotion:
    rules = get_rules(session, mall_id)
    _check(data, tenant_id=tenant_id, zones=zones, rules=rules)
    promotion = Promotion(mall_id=mall_id, tenant_id=tenant_id, status="draft", **_columns(data))
    session.add(promotion)
    session.flush()
    return promotion


def list_promotions(
    session: Session, *, mall_id: int, tenant_id: int | None = None, status: str | None = None
) -> Sequence[Promotion]:
    query = select(Promotion).where(Promotion.mall_id == mall_id).order_by(Promotion.id)
    if tenant_id is not None:
        query = query.where(Promotion.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Promotion.status == status)
    return session.scalars(query).all()


def get_promotion(
    session: Session, promotion_id: int, *, mall_id: int, tenant_id: int | None = None
) -> Promotion:
    """The promotion if the caller may see it: another tenant's is not found, like a missing one."""
    promotion = session.get(Promotion, promotion_id)
    if (
        promotion is None
        or promotion.mall_id != mall_id
        or (tenant_id is not None and promotion.tenant_id != tenant_id)
    ):
        raise NotFound(f"no promotion {promotion_id}", code="promotion_not_found")
    return promotion


def update_promotion(
    session: Session,
    promotion: Promotion,
    patch: PromotionUpdate,
    zones: Mapping[int, ZoneFact],
) -> Promotion:
    _lock(session, promotion)
    if promotion.status not in _EDITABLE:
        raise Conflict(
            f"a {promotion.status} promotion cannot be edited (pause or end it, then create a "
            "new one)",
            code="not_editable",
        )
    try:
        merged = PromotionCreate.model_validate(
            promotion_out(promotion).model_dump(include=set(PromotionCreate.model_fields))
            | patch.model_dump(exclude_unset=True)
        )
    except ValidationError as exc:  # what the patch leaves is not a promotion
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"{field}: {error['msg']}", details={"field": field}) from None
    _check(merged, tenant_id=promotion.tenant_id, zones=zones,
           rules=get_rules(session, promotion.mall_id))  # fmt: skip
    for key, value in _columns(merged).items():
        setattr(promotion, key, value)
    promotion.status = "draft"
    promotion.rejection_reason = None
    session.flush()
    return promotion


def submit(session: Session, promotion: Promotion) -> Promotion:
    _move(session, promotion, allowed=_EDITABLE, to="submitted")
    texts = {"default": (promotion.title, promotion.body)} | {
        locale: (text["title"], text["body"]) for locale, text in promotion.translations.items()
    }
    for variant in promotion.variants or []:  # each tier's text is a push of its own
        tier = variant["tier"]
        texts[f"{tier}:default"] = (variant["title"], variant["body"])
        texts |= {f"{tier}:{locale}": (text["title"], text["body"])
                  for locale, text in variant.get("translations", {}).items()}  # fmt: skip
    locale, size = largest_payload(
        texts, deep_link=promotion.deep_link, image_url=promotion.image_url
    )
    if size > FCM_PAYLOAD_LIMIT:
        raise InvalidInput(
            f"the push for locale {locale} would carry {size} bytes; FCM accepts at most "
            f"{FCM_PAYLOAD_LIMIT}: shorten the title, body or deep link",
            code="payload_too_large_for_fcm",
            details={"locale": locale, "bytes": size, "limit": FCM_PAYLOAD_LIMIT},
        )
    promotion.submitted_at = utcnow()
    session.flush()
    return promotion


def pause(session: Session, promotion: Promotion) -> Promotion:
    _move(session, promotion, allowed=("approved",), to="paused")
    session.flush()
    return promotion


def resume(session: Session, promotion: Promotion) -> Promotion:
    _move(session, promotion, allowed=("paused",), to="approved")
    session.flush()
    return promotion


def end(session: Session, promotion: Promotion) -> Promotion:
    _move(
        session,
        promotion,
        allowed=("draft", "submitted", "approved", "rejected", "paused"),
        to="ended",
    )
    session.flush()
    return promotion


# -- operators' side ----------------------------------------------------------------------------


def approve(session: Session, promotion: Promotion, *, seen: str | None = None) -> Promotion:
    """`seen`: the version the operator read (If-Match); None approves what is there."""
    _move(session, promotion, allowed=("submitted",), to="approved", seen=seen)
    promotion.approved_at = utcnow()
    session.flush()
    return promotion


def reject(
    session: Session, promotion: Promotion, reason: str, *, seen: str | None = None
) -> Promotion:
    _move(session, promotion, allowed=("submitted",), to="rejected", seen=seen)
    promotion.rejection_reason = reason
    session.flush()
    return promotion


def promotion_out(promotion: Promotion) -> PromotionOut:
    now = utcnow()
    schedule = promotion.schedule or {}
    starts, ends = schedule.get("starts_at"), schedule.get("ends_at")
    active = promotion.status == "approved" and _within(now, starts, ends)
    return PromotionOut.model_validate(
        {
            "id": promotion.id,
            "mall_id": promotion.mall_id,
            "tenant_id": promotion.tenant_id,
            "title": promotion.title,
            "body": promotion.body,
            "translations": promotion.translations,
            "image_url": promotion.image_url,
            "deep_link": promotion.deep_link,
            "category": promotion.category,
            "targets": promotion.targets,
            "trigger": promotion.trigger,
            "schedule": schedule,
            "audience": promotion.audience,
            "limits": promotion.limits,
            "redemption": promotion.redemption,
            "priority": promotion.priority,
            "variants": promotion.variants or [],
            "status": promotion.status,
            "active": active,
            "rejection_reason": promotion.rejection_reason,
            "submitted_at": promotion.submitted_at,
            "approved_at": promotion.approved_at,
            "created_at": promotion.created_at,
            "updated_at": promotion.updated_at,
            "version": version(promotion),
        }
    )


def _within(now: datetime, starts: str | None, ends: str | None) -> bool:
    if starts and now < datetime.fromisoformat(starts):
        return False
    return not (ends and now >= datetime.fromisoformat(ends))


def version(promotion: Promotion) -> str:
    """Opaque, and new with every change (updated_at moves with each)."""
    return f"{promotion.id}-{round(promotion.updated_at.timestamp() * 1_000_000)}"


def _check_seen(promotion: Promotion, seen: str | None) -> None:
    if seen is None or seen.strip().strip('"') in (version(promotion), "*"):
        return
    raise PreconditionFailed(
        f"promotion {promotion.id} changed since you read it (the store may have edited and "
        "resubmitted it): read it again before you decide",
        code="promotion_changed",
        details={"version": version(promotion), "status": promotion.status},
    )


def _lock(session: Session, promotion: Promotion) -> None:
    """Hold the promotion's row and read it as committed: of two changes at once (a store ends
    its offer as the operator approves it), the later sees what the first did."""
    session.refresh(promotion, with_for_update=True)


def _move(
    session: Session, promotion: Promotion, *, allowed: Sequence[str], to: str,
    seen: str | None = None,
) -> None:  # fmt: skip
    _lock(session, promotion)
    _check_seen(promotion, seen)
    if promotion.status not in allowed:
        raise Conflict(
            f"promotion {promotion.id} is {promotion.status}; it can become {to} only from "
            + " or ".join(allowed),
            code="invalid_transition",
            details={"status": promotion.status, "to": to},
        )
    promotion.status = to


def _columns(data: PromotionCreate) -> dict[str, Any]:
    dumped = data.model_dump(mode="json")
    return {
        key: dumped[key]
        for key in (
            "title",
            "body",
            "translations",
            "image_url",
            "deep_link",
            "category",
            "targets",
            "trigger",
            "schedule",
            "audience",
            "limits",
            "redemption",
            "priority",
            "variants",
        )
    }


def tenant_may_target(zone: ZoneFact, tenant_id: int, rules: MallRulesIn) -> bool:
    """A tenant targets its own store, and the zones (by kind or id) the mall opens to tenants."""
    return (
        zone.tenant_id == tenant_id
        or zone.kind in rules.tenant_zone_kinds
        or zone.zone_id in rules.tenant_zone_ids
    )


def _check(
    data: PromotionCreate, *, tenant_id: int, zones: Mapping[int, ZoneFact], rules: MallRulesIn
) -> None:
    targets = data.targets
    if not (targets.zones or targets.kinds or targets.mall):
        raise InvalidInput(
            "targets must name zones, zone kinds, or the mall", code="empty_targets",
            details={"field": "targets"},
        )  # fmt: skip
    for zone_id in targets.zones:
        zone = zones.get(zone_id)
        if zone is None:
            raise InvalidInput(f"zone {zone_id} is not a zone of this mall", code="unknown_zone",
                               details={"zone_id": zone_id})  # fmt: skip
        if not tenant_may_target(zone, tenant_id, rules):
            raise InvalidInput(
                f"zone {zone_id} is neither your store nor a zone the mall opens to tenants",
                code="zone_not_targetable", details={"zone_id": zone_id},
            )  # fmt: skip
    for kind in targets.kinds:
        if kind not in rules.tenant_zone_kinds:
            raise InvalidInput(
                f"the mall does not open {kind} zones to tenants "
                f"(open: {rules.tenant_zone_kinds})",
                code="zone_not_targetable", details={"kind": kind},
            )  # fmt: skip
    if targets.mall and not rules.tenants_may_target_mall:
        raise InvalidInput("the mall does not let tenants target the whole mall",
                           code="zone_not_targetable")  # fmt: skip
    _check_windows(data.schedule.windows, "schedule.windows")
    starts, ends = data.schedule.starts_at, data.schedule.ends_at
    for name, moment in (("starts_at", starts), ("ends_at", ends)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"schedule.{name} needs a time zone (e.g. Z or +08:00)",
                               code="invalid_schedule")  # fmt: skip
    if starts and ends and ends <= starts:
        raise InvalidInput("schedule.ends_at must come after starts_at", code="invalid_schedule")
    known = set(BUILTIN_SEGMENTS) | set(PURCHASE_SEGMENTS) | {s.name for s in rules.segments}
    unknown = [name for name in data.audience.segments if name not in known]
    if unknown:
        raise InvalidInput(f"unknown segments {unknown}; known: {sorted(known)}",
                           code="unknown_segment")  # fmt: skip
    if data.trigger == "segment" and not (targets.mall and data.audience.segments):
        raise InvalidInput(
            "a promotion triggered by a segment targets the mall (targets.mall) and names the "
            "segments whose members it goes to when they enter them (audience.segments)",
            code="invalid_segment_trigger", details={"field": "audience.segments"},
        )  # fmt: skip


def _check_windows(windows: Sequence[Window], field: str) -> None:
    for index, window in enumerate(windows):
        try:
            parse_days(window.days)
        except ValueError as exc:
            where = f"{field}[{index}].days"
            raise InvalidInput(str(exc), code="invalid_window", details={"field": where}) from None


def end_expired(session: Session, now: datetime) -> int:
    """End approved and paused promotions whose end date has passed. Idempotent."""
    rows = session.scalars(
        select(Promotion).where(Promotion.status.in_(("approved", "paused")))
    ).all()
    ended = 0
    for promotion in rows:
        ends = (promotion.schedule or {}).get("ends_at")
        if ends and datetime.fromisoformat(ends) <= now:
            promotion.status = "ended"
            ended += 1
    session.flush()
    return ended
