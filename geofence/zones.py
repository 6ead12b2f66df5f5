"""Zones of a mall: one at a time from a GeoJSON Feature, or a whole floor plan imported at
once (geofence.floorplan has the rules); and the facts about zones other domains read."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound, PayloadTooLarge
from core.scope import MallScope
from core.zones import ZoneFact
from geofence import imdf
from geofence.cache import bump_zones_version
from geofence.floorplan import FloorPlanWriter, GeometryLimits
from geofence.geojson import Area, to_geojson
from geofence.index import ZoneShape
from geofence.levels import level_by_ordinal
from geofence.malls import get_mall
from geofence.models import Level, Mall, Zone
from geofence.schemas import (
    Occupancy,
    ZoneFeature,
    ZoneFeatureOut,
    ZoneImportResult,
    ZoneKind,
    ZonePatch,
    ZonePropertiesOut,
)


@dataclass(frozen=True)
class ZoneView:
    """A zone with what its GeoJSON needs: the level ordinal and the shape read back exactly."""

    zone: Zone
    level: int | None
    shape: Area

    @property
    def occupancy(self) -> Occupancy:
        zone = self.zone
        shape = ZoneShape(zone.id, self.level, self.shape, zone.kind, occupancy=zone.occupancy)
        return Occupancy.UNIT if shape.is_unit else Occupancy.AREA

    def feature(self) -> ZoneFeatureOut:
        zone = self.zone
        return ZoneFeatureOut(
            id=zone.id,
            geometry=to_geojson(self.shape),
            properties=ZonePropertiesOut(
                **zone.properties,
                name=zone.name,
                kind=zone.kind,
                level=self.level,
                tenant=zone.tenant_id,
                dwell_seconds=zone.dwell_seconds,
                ref=zone.ref,
                occupancy=self.occupancy,
                occupancy_set=zone.occupancy is not None,
            ),
        )


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
        if level_by_ordinal(session, mall_id, level) is None:
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
        session,
        scope,
        mall_id,
        [feature.model_dump(mode="json")],
        limits,
        default_level=None,
        review=False,
        new_only=True,
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
    mall = get_mall(session, scope, mall_id, for_update=True)
    view = get_zone(session, scope, mall_id, zone_id)
    current = view.feature().model_dump()
    # The operator's choice as stored, not the kind's: a new kind then brings its own.
    current["properties"]["occupancy"] = view.zone.occupancy
    del current["properties"]["occupancy_set"]
    changes = patch.properties.model_dump(exclude_unset=True)
    merged = {
        "type": "Feature",
        "geometry": patch.geometry if patch.geometry is not None else current["geometry"],
        "properties": {**current["properties"], **changes},
    }
    FloorPlanWriter(session, mall, limits).write([merged], default_level=None, existing=view.zone)
    return get_zone(session, scope, mall_id, zone_id)


def delete_zone(session: Session, scope: MallScope, mall_id: int, zone_id: int) -> None:
    mall = get_mall(session, scope, mall_id, for_update=True)
    view = get_zone(session, scope, mall_id, zone_id)
    session.delete(view.zone)
    bump_zones_version(session, mall)
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
    review: bool = True,
    categories: Mapping[str, ZoneKind] | None = None,
    new_only: bool = False,
    levels: Sequence[tuple[int, str]] = (),
) -> ZoneImportResult:
    """Create or update (by `ref`) every feature, or none: all errors are reported at once
    (geofence.floorplan has the rules). `replace`: the level's other zones are deleted.
    `review`: with warnings on what looks wrong. `categories`: the plan's own category words
    for kinds, read for features without one. `new_only`: refs held already are refused.
    `levels`: (ordinal, name) of levels to create first, where the mall has none."""
    mall = get_mall(session, scope, mall_id, for_update=not dry_run)
    if len(features) > limits.max_import_features:
        raise PayloadTooLarge(
            f"{len(features)} features in one import; at most {limits.max_import_features} "
            "(split the floor plan by level)",
            code="too_many_features",
            details={"features": len(features), "limit": limits.max_import_features},
        )
    if not features:
        raise InvalidInput("the FeatureCollection has no features", code="empty_import")
    if default_level is not None and level_by_ordinal(session, mall_id, default_level) is None:
        raise NotFound(f"mall {mall_id} has no level {default_level}", code="unknown_level")
    # A dry run goes down to the database's own checks, in a savepoint rolled back after, so
    # that it refuses exactly what the import would and leaves the transaction as it was.
    savepoint = session.begin_nested()
    created = _add_levels(session, mall, levels)
    result = FloorPlanWriter(session, mall, limits, categories).write(
        features,
        default_level=default_level,
        replace=replace,
        dry_run=dry_run,
        review=review,
        new_only=new_only,
    )
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return result.model_copy(update={"levels_created": created})


def import_imdf(
    session: Session,
    scope: MallScope,
    mall_id: int,
    archive: bytes,
    limits: GeometryLimits,
    *,
    dry_run: bool = False,
) -> ZoneImportResult:
    """An IMDF archive's levels (those the mall lacks) and zones, all or none, upserted by the
    IMDF ids (geofence.imdf says what is read)."""
    get_mall(session, scope, mall_id)  # a mall out of scope: 404 before the archive is read
    try:
        unpacked = imdf.unpack(archive, max_bytes=limits.max_unpacked_bytes)
        plan = imdf.read_plan(unpacked.files, unpacked.unread)
    except imdf.ImdfError as exc:
        raise InvalidInput(exc.message, code="invalid_imdf", details={"path": exc.path}) from None
    result = import_zones(
        session,
        scope,
        mall_id,
        plan.features,
        limits,
        default_level=None,
        dry_run=dry_run,
        levels=[(level.ordinal, level.name) for level in plan.levels],
    )
    return result.model_copy(update={"left_out": plan.left_out})


def _add_levels(session: Session, mall: Mall, levels: Sequence[tuple[int, str]]) -> list[int]:
    """Create the levels the mall lacks (by ordinal); a name another level has gets its
    ordinal added. The ordinals created."""
    have = {
        level.ordinal: level.name
        for level in session.scalars(select(Level).where(Level.mall_id == mall.id))
    }
    created = []
    for ordinal, name in levels:
        if ordinal in have:
            continue
        unique = name if name not in have.values() else f"{name} ({ordinal})"[:100]
        session.add(Level(mall_id=mall.id, ordinal=ordinal, name=unique))
        have[ordinal] = unique
        created.append(ordinal)
    if created:
        session.flush()
    return created


def _view(session: Session, zone: Zone) -> ZoneView:
    ordinal = session.get(Level, zone.level_id).ordinal if zone.level_id else None  # type: ignore[union-attr]
    return ZoneView(zone, ordinal, to_shape(zone.geom))


def zone_facts(session: Session, mall_id: int, zone_ids: Iterable[int]) -> dict[int, ZoneFact]:
    """Owner and kind of the given zones of a mall (unknown ids are left out)."""
    ids = sorted(set(zone_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Zone.id, Zone.tenant_id, Zone.kind).where(Zone.mall_id == mall_id, Zone.id.in_(ids))
    ).all()
    return {zone_id: ZoneFact(zone_id, tenant_id, kind) for zone_id, tenant_id, kind in rows}
