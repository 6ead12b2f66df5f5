"""Use cases of malls, levels and zones: check, store, read back; one transaction each.

Every function takes the caller's `MallScope`: a mall outside it is reported as not found, so
that an operator cannot even learn that another operator's mall exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db import flush_or_conflict
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from core.scope import MallScope
from geofence.floorplan import FloorPlanWriter, GeometryLimits
from geofence.geojson import Area, metres_to_degrees, parse_area, to_geojson
from geofence.models import Level, Mall, Zone
from geofence.schemas import (
    LevelCreate,
    LevelUpdate,
    MallCreate,
    MallUpdate,
    ZoneFeature,
    ZoneImportResult,
    ZonePatch,
)
from promotions.catalog import ZoneFact
from promotions.models import Tenant

# -- malls --------------------------------------------------------------------------------------


def list_malls(session: Session, scope: MallScope) -> Sequence[Mall]:
    query = select(Mall).order_by(Mall.id)
    if not scope.is_platform:
        query = query.where(Mall.id.in_(scope.mall_ids or ()))
    return session.scalars(query).all()


def get_mall(session: Session, scope: MallScope, mall_id: int) -> Mall:
    mall = session.get(Mall, mall_id) if scope.allows(mall_id) else None
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
    _flush(session)
    return mall


def update_mall(
    session: Session, scope: MallScope, mall_id: int, data: MallUpdate, limits: GeometryLimits
) -> Mall:
    mall = get_mall(session, scope, mall_id)
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
        mall.zones_version += 1
    _flush(session)
    return mall


def delete_mall(
    session: Session, scope: MallScope, mall_id: int, *, confirm: str | None = None
) -> None:
    """Delete a mall with everything in it. One that holds zones or tenants goes only when the
    caller repeats its name (`confirm`): one call must not erase a floor plan by mistake."""
    mall = get_mall(session, scope, mall_id)
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
            code="confirmation_required", details=holds,
        )  # fmt: skip
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
            code="overlapping_mall", details={"mall_id": other.id} if named else {},
        )  # fmt: skip


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


# -- levels -------------------------------------------------------------------------------------


def list_levels(session: Session, scope: MallScope, mall_id: int) -> Sequence[Level]:
    get_mall(session, scope, mall_id)
    return session.scalars(
        select(Level).where(Level.mall_id == mall_id).order_by(Level.ordinal)
    ).all()


def get_level(session: Session, scope: MallScope, mall_id: int, ordinal: int) -> Level:
    get_mall(session, scope, mall_id)
    level = _level_by_ordinal(session, mall_id, ordinal)
    if level is None:
        raise NotFound(f"mall {mall_id} has no level {ordinal}", code="level_not_found")
    return level


def create_level(session: Session, scope: MallScope, mall_id: int, data: LevelCreate) -> Level:
    mall = get_mall(session, scope, mall_id)
    _check_level_free(session, mall_id, ordinal=data.ordinal, name=data.name)
    level = Level(mall_id=mall_id, ordinal=data.ordinal, name=data.name)
    session.add(level)
    mall.zones_version += 1
    _flush(session)
    return level


def update_level(
    session: Session, scope: MallScope, mall_id: int, ordinal: int, data: LevelUpdate
) -> Level:
    level = get_level(session, scope, mall_id, ordinal)
    new_ordinal = data.ordinal if data.ordinal is not None else level.ordinal
    new_name = data.name if data.name is not None else level.name
    _check_level_free(
        session,
        mall_id,
        ordinal=new_ordinal if new_ordinal != level.ordinal else None,
        name=new_name if new_name != level.name else None,
    )
    level.ordinal, level.name = new_ordinal, new_name
    get_mall(session, scope, mall_id).zones_version += 1
    _flush(session)
    return level


def delete_level(session: Session, scope: MallScope, mall_id: int, ordinal: int) -> None:
    level = get_level(session, scope, mall_id, ordinal)
    zones = session.scalar(select(func.count()).select_from(Zone).where(Zone.level_id == level.id))
    if zones:
        raise Conflict(
            f"level {ordinal} still has {zones} zones: delete or move them first",
            code="level_not_empty",
            details={"zones": zones},
        )
    session.delete(level)
    get_mall(session, scope, mall_id).zones_version += 1
    session.flush()


def _level_by_ordinal(session: Session, mall_id: int, ordinal: int) -> Level | None:
    return session.scalar(select(Level).where(Level.mall_id == mall_id, Level.ordinal == ordinal))


def _check_level_free(
    session: Session, mall_id: int, *, ordinal: int | None, name: str | None
) -> None:
    if ordinal is not None and _level_by_ordinal(session, mall_id, ordinal) is not None:
        raise Conflict(f"mall {mall_id} has a level {ordinal} already", code="duplicate_ordinal")
    if name is not None and session.scalar(
        select(Level.id).where(Level.mall_id == mall_id, Level.name == name)
    ):
        raise Conflict(f"mall {mall_id} has a level named {name!r} already", code="duplicate_name")


# -- zones --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneView:
    """A zone with what its GeoJSON needs: the level ordinal and the shape read back exactly."""

    zone: Zone
    level: int | None
    shape: Area

    def feature(self) -> dict[str, Any]:
        zone = self.zone
        return {
            "type": "Feature",
            "id": zone.id,
            "geometry": to_geojson(self.shape),
            "properties": {
                **zone.properties,
                "name": zone.name,
                "kind": zone.kind,
                "level": self.level,
                "tenant": zone.tenant_id,
                "dwell_seconds": zone.dwell_seconds,
                "ref": zone.ref,
            },
        }


def get_zone(session: Session, scope: MallScope, mall_id: int, zone_id: int) -> ZoneView:
    get_mall(session, scope, mall_id)
    zone = session.get(Zone, zone_id)
    if zone is None or zone.mall_id != mall_id:
        raise NotFound(f"mall {mall_id} has no zone {zone_id}", code="zone_not_found")
    return _view(session, zone)


def list_zones(
    session: Session,
    scope: MallScope,
    mall_id: int,
    *,
    level: int | None = None,
    all_levels_only: bool = False,
    kinds: Iterable[str] = (),
) -> list[ZoneView]:
    """Zones of a mall: of one level (by ordinal), only those spanning all levels, or every one."""
    get_mall(session, scope, mall_id)
    query = (
        select(Zone, Level.ordinal)
        .outerjoin(Level, Zone.level_id == Level.id)
        .where(Zone.mall_id == mall_id)
        .order_by(Zone.id)
    )
    if all_levels_only:
        query = query.where(Zone.level_id.is_(None))
    elif level is not None:
        if _level_by_ordinal(session, mall_id, level) is None:
            raise NotFound(f"mall {mall_id} has no level {level}", code="level_not_found")
        query = query.where(Level.ordinal == level)
    kinds = list(kinds)
    if kinds:
        query = query.where(Zone.kind.in_(kinds))
    return [
        ZoneView(zone, ordinal, to_shape(zone.geom)) for zone, ordinal in session.execute(query)
    ]


def create_zone(
    session: Session, scope: MallScope, mall_id: int, feature: ZoneFeature, limits: GeometryLimits
) -> ZoneView:
    result = import_zones(
        session, scope, mall_id, [feature.model_dump(mode="json")], limits, default_level=None
    )
    return get_zone(session, scope, mall_id, result.zone_ids[0])


def update_zone(
    session: Session,
    scope: MallScope,
    mall_id: int,
    zone_id: int,
    patch: ZonePatch,
    limits: GeometryLimits,
) -> ZoneView:
    view = get_zone(session, scope, mall_id, zone_id)
    current = view.feature()
    changes = patch.properties.model_dump(exclude_unset=True)
    merged = {
        "type": "Feature",
        "geometry": patch.geometry if patch.geometry is not None else current["geometry"],
        "properties": {**current["properties"], **changes},
    }
    FloorPlanWriter(session, get_mall(session, scope, mall_id), limits).write(
        [merged], default_level=None, existing=view.zone
    )
    return get_zone(session, scope, mall_id, zone_id)


def delete_zone(session: Session, scope: MallScope, mall_id: int, zone_id: int) -> None:
    view = get_zone(session, scope, mall_id, zone_id)
    session.delete(view.zone)
    get_mall(session, scope, mall_id).zones_version += 1
    session.flush()


def import_zones(
    session: Session,
    scope: MallScope,
    mall_id: int,
    features: Sequence[Any],
    limits: GeometryLimits,
    *,
    default_level: int | None,
    replace: bool = False,
    dry_run: bool = False,
) -> ZoneImportResult:
    """Create or update (by `ref`) every feature, or none: all errors are reported at once
    (geofence.floorplan has the rules). `replace`: the level's other zones are deleted."""
    mall = get_mall(session, scope, mall_id)
    if len(features) > limits.max_import_features:
        raise PayloadTooLarge(
            f"{len(features)} features in one import; at most {limits.max_import_features} "
            "(split the floor plan by level)",
            code="too_many_features",
            details={"features": len(features), "limit": limits.max_import_features},
        )
    if not features:
        raise InvalidInput("the FeatureCollection has no features", code="empty_import")
    if default_level is not None and _level_by_ordinal(session, mall_id, default_level) is None:
        raise NotFound(f"mall {mall_id} has no level {default_level}", code="unknown_level")
    return FloorPlanWriter(session, mall, limits).write(
        features, default_level=default_level, replace=replace, dry_run=dry_run
    )


def _view(session: Session, zone: Zone) -> ZoneView:
    ordinal = session.get(Level, zone.level_id).ordinal if zone.level_id else None  # type: ignore[union-attr]
    return ZoneView(zone, ordinal, to_shape(zone.geom))


def _flush(session: Session) -> None:
    flush_or_conflict(session, "a concurrent change took that name or number first; retry")


def zone_facts(session: Session, mall_id: int, zone_ids: Iterable[int]) -> dict[int, ZoneFact]:
    """Owner and kind of the given zones of a mall (unknown ids are left out)."""
    ids = sorted(set(zone_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Zone.id, Zone.tenant_id, Zone.kind).where(Zone.mall_id == mall_id, Zone.id.in_(ids))
    ).all()
    return {zone_id: ZoneFact(zone_id, tenant_id, kind) for zone_id, tenant_id, kind in rows}
