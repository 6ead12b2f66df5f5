"""Malls: create, change, delete, read; each within the caller's `MallScope`, where a mall
outside it is reported as not found (an operator cannot even learn another's mall exists)."""

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db import flush_or_conflict, lock_row
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.scope import MallScope
from core.tenants.models import Tenant
from geofence.cache import bump_zones_version
from geofence.floorplan import GeometryLimits
from geofence.geojson import Area, metres_to_degrees, parse_area
from geofence.models import Mall, Zone
from geofence.schemas import (
    MallCreate,
    MallUpdate,
)


def list_malls(session: Session, scope: MallScope) -> Sequence[Mall]:
    query = select(Mall).order_by(Mall.id)
    if not scope.is_platform:
        query = query.where(Mall.id.in_(scope.mall_ids or ()))
    return session.scalars(query).all()


def get_mall(session: Session, scope: MallScope, mall_id: int, *, for_update: bool = False) -> Mall:
    """`for_update`: every change to a mall, its floors or its zones locks the mall's row first,
    so they take turns per mall, always in the same order (no deadlock), and each bumps
    `zones_version` from the last committed value (replicas miss no change)."""
    if not scope.allows(mall_id):
        mall = None
    elif for_update:
        mall = lock_row(session, Mall, mall_id)
    else:
        mall = session.get(Mall, mall_id)
    if mall is None:
        raise NotFound(f"mall {mall_id} not found", code="mall_not_found")
    return mall


def create_mall(
    session: Session, scope: MallScope, data: MallCreate, limits: GeometryLimits
) -> Mall:
    if not scope.is_platform:
        raise Forbidden(
            "only the platform operator (a key without --mall) creates malls",
            code="platform_operator_required",
        )
    _check_timezone(data.timezone)
    footprint = parse_area(data.footprint, max_vertices=limits.max_vertices, path="footprint")
    _check_mall_name_free(session, data.name)
    _check_no_overlap(session, scope, footprint, except_mall=None)
    mall = Mall(name=data.name, timezone=data.timezone, footprint=from_shape(footprint, 4326))
    session.add(mall)
    flush_or_retry(session)
    return mall


def update_mall(
    session: Session, scope: MallScope, mall_id: int, data: MallUpdate, limits: GeometryLimits
) -> Mall:
    mall = get_mall(session, scope, mall_id, for_update=True)
    if data.name is not None and data.name != mall.name:
        _check_mall_name_free(session, data.name)
        mall.name = data.name
    if data.timezone is not None:
        _check_timezone(data.timezone)
        mall.timezone = data.timezone
    if data.footprint is not None:
        footprint = parse_area(data.footprint, max_vertices=limits.max_vertices, path="footprint")
        allowed = footprint.buffer(metres_to_degrees(limits.footprint_tolerance_m))
        outside = [
            zone.id
            for zone in session.scalars(select(Zone).where(Zone.mall_id == mall.id))
            if not allowed.covers(to_shape(zone.geom))
        ]
        if outside:
            raise InvalidInput(
                f"{len(outside)} zones would lie outside the new footprint: "
                "move or delete them first",
                code="zones_outside_footprint",
                details={"zone_ids": outside[:100]},
            )
        _check_no_overlap(session, scope, footprint, except_mall=mall.id)
        mall.footprint = from_shape(footprint, 4326)
        bump_zones_version(session, mall)
    flush_or_retry(session)
    return mall


def delete_mall(
    session: Session, scope: MallScope, mall_id: int, *, confirm: str | None = None
) -> None:
    """Delete a mall with everything in it. One that holds zones or tenants goes only when the
    caller repeats its name (`confirm`): one call must not erase a floor plan by mistake."""
    mall = get_mall(session, scope, mall_id, for_update=True)
    if not scope.is_platform:
        raise Forbidden(
            "only the platform operator deletes malls", code="platform_operator_required"
        )
    holds = {
        "zones": session.scalar(select(func.count()).where(Zone.mall_id == mall.id)) or 0,
        "tenants": session.scalar(select(func.count()).where(Tenant.mall_id == mall.id)) or 0,
    }
    if any(holds.values()) and confirm != mall.name:
        raise Conflict(
            f"mall {mall.id} holds {holds['zones']} zones and {holds['tenants']} tenants, with "
            "their promotions and history: to delete it all, repeat the request with "
            f"?confirm=<the mall's name, {mall.name!r}>",
            code="confirmation_required",
            details=holds,
        )
    session.execute(delete(Zone).where(Zone.mall_id == mall.id))  # before levels (RESTRICT)
    session.delete(mall)
    session.flush()


def mall_footprint(mall: Mall) -> Area:
    return to_shape(mall.footprint)


def _check_no_overlap(
    session: Session, scope: MallScope, footprint: Area, *, except_mall: int | None
) -> None:
    """Footprints may touch but not overlap: a ping inside two malls would always go to one of
    them (the lower id), and the other would never see it. The other mall is named only to a
    caller who may see it."""
    shape = from_shape(footprint, 4326)
    query = select(Mall.id, Mall.name).where(
        func.ST_Intersects(Mall.footprint, shape),
        ~func.ST_Touches(Mall.footprint, shape),
    )
    if except_mall is not None:
        query = query.where(Mall.id != except_mall)
    other = session.execute(query.limit(1)).first()
    if other is not None:
        named = scope.allows(other.id)
        which = f"mall {other.id} ({other.name!r})" if named else "another mall"
        raise Conflict(
            f"the footprint overlaps {which}: malls may touch, not overlap",
            code="overlapping_mall",
            details={"mall_id": other.id} if named else {},
        )


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = [tz for tz in available_timezones() if tz.lower() == name.lower()]
        raise InvalidInput(
            f"timezone {name!r} is not an IANA time zone name (e.g. Asia/Shanghai)"
            + (f"; did you mean {hint[0]}?" if hint else ""),
            code="invalid_timezone",
            details={"field": "timezone"},
        ) from None


def _check_mall_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Mall.id).where(Mall.name == name)) is not None:
        raise Conflict(f"a mall named {name!r} exists already", code="duplicate_name")


def flush_or_retry(session: Session) -> None:
    flush_or_conflict(session, "a concurrent change took that name or number first; retry")
