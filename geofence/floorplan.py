"""Floor plans in: a batch of GeoJSON features checked against one mall, written all or none.

The rules an import follows (docs/geofencing.md):
- `?level=N` is the floor being imported: a feature without a level, or with `"level": null`,
  is on N; a feature naming another level is refused (it is not silently moved). Zones spanning
  all levels are imported without `?level`.
- A feature with a `ref` updates the zone holding that ref; without one, a zone with the same
  name and geometry already on that level is a duplicate and refused: import again with refs,
  or replace the floor (`replace`: every zone of that level not in the import is deleted).
- Every refused feature is listed with its index, and its `id`, `ref` and `name` when it has
  them; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from pydantic import ValidationError
from shapely.prepared import prep
from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.orm import Session

from core.db import flush_or_conflict, raise_conflict, utcnow
from core.errors import Conflict, InvalidInput, MallcastError
from core.tenants.models import Tenant
from geofence.cache import bump_zones_version
from geofence.geojson import Area, metres_to_degrees, parse_area, swap_axes
from geofence.index import is_unit
from geofence.models import Level, Mall, Zone
from geofence.planreview import PlanZone, StoredUnit, kind_from_category, review
from geofence.schemas import ImportWarning, ZoneImportResult, ZoneKind, ZoneProperties

# Properties mallcast keeps in columns; everything else a feature carries stays in `properties`.
COLUMN_PROPERTIES = ("name", "kind", "level", "tenant", "dwell_seconds", "ref", "occupancy")


@dataclass(frozen=True)
class GeometryLimits:
    max_vertices: int = 20_000
    max_import_features: int = 5_000
    footprint_tolerance_m: float = 1.0
    max_unpacked_bytes: int = 256 * 1024 * 1024  # an IMDF archive, unzipped (a zip bomb stops)


@dataclass(frozen=True)
class _Checked:
    index: int
    properties: ZoneProperties
    shape: Area
    level_id: int | None
    kind_given: bool


class FloorPlanWriter:
    """Checks a batch of features against one mall and writes them when all pass."""

    def __init__(
        self,
        session: Session,
        mall: Mall,
        limits: GeometryLimits,
        categories: Mapping[str, ZoneKind] | None = None,
    ) -> None:
        self.session = session
        self.mall = mall
        self.limits = limits
        self.categories = categories  # the plan's own category words for kinds
        self.footprint = to_shape(mall.footprint)
        self.allowed = prep(self.footprint.buffer(metres_to_degrees(limits.footprint_tolerance_m)))
        self.levels = {
            level.ordinal: level.id
            for level in session.scalars(select(Level).where(Level.mall_id == mall.id))
        }
        self.tenants = set(session.scalars(select(Tenant.id).where(Tenant.mall_id == mall.id)))

    def write(
        self,
        features: Sequence[Any],
        *,
        default_level: int | None,
        existing: Zone | None = None,
        replace: bool = False,
        dry_run: bool = False,
        review: bool = False,
        new_only: bool = False,
    ) -> ZoneImportResult:
        """Dry or not, everything runs down to the database's own checks; the caller rolls a
        dry run back (geofence.zones.import_zones). `review`: with the import's warnings.
        `new_only`: a ref that a zone holds already is a conflict, not that zone's update (a
        zone created on its own must not overwrite another)."""
        checked, errors = self._check_all(features, default_level)
        by_ref = self._zones_by_ref([c.properties.ref for c in checked if c.properties.ref])
        if existing is not None and checked and checked[0].properties.ref is not None:
            holder = by_ref.get(checked[0].properties.ref)
            if holder is not None and holder.id != existing.id:
                errors.append((0, Conflict(
                    f"zone {holder.id} already has ref {holder.ref!r}", code="duplicate_ref",
                    details={"ref": holder.ref, "zone_id": holder.id},
                )))  # fmt: skip
        targets = [
            existing or (by_ref.get(c.properties.ref) if c.properties.ref else None)
            for c in checked
        ]
        if new_only:
            errors.extend(
                (index, Conflict(
                    f"zone {target.id} already has ref {target.ref!r}: change it with PATCH, or "
                    "import the floor plan to update zones by ref", code="duplicate_ref",
                    details={"ref": target.ref, "zone_id": target.id},
                ))
                for index, target in enumerate(targets) if target is not None
            )  # fmt: skip
        replaced: list[int] = []
        if replace:
            replaced = self._replaced_zones(default_level, targets)
        elif existing is None:
            errors.extend(self._duplicates(checked, targets))
        if errors:
            self._refuse(features, errors)
        leaving = {*replaced, *(target.id for target in targets if target)}
        kept = self._stored_units(checked, leaving) if review else []

        if replaced:
            self.session.execute(delete(Zone).where(Zone.id.in_(replaced)))
        for item, target in zip(checked, targets, strict=True):
            if target is not None:
                _fill(target, item.properties, item.shape, item.level_id)
        fresh = [item for item, target in zip(checked, targets, strict=True) if target is None]
        bump_zones_version(self.session, self.mall)
        conflict = "a concurrent change took that name or number first; retry"
        flush_or_conflict(self.session, conflict)
        # New zones in one statement, not through the unit of work: a floor plan holds hundreds,
        # and the ORM's bookkeeping per object cost more than the insert itself.
        with raise_conflict(conflict, session=self.session):
            new_ids = iter(self.session.scalars(
                insert(Zone).returning(Zone.id, sort_by_parameter_order=True),
                [_row(self.mall.id, item) for item in fresh],
            ).all() if fresh else [])  # fmt: skip
        zone_ids = [target.id if target else next(new_ids) for target in targets]
        return ZoneImportResult(
            created=len(fresh),
            updated=len(targets) - len(fresh),
            deleted=len(replaced),
            zone_ids=[] if dry_run else zone_ids,
            dry_run=dry_run,
            warnings=_warnings(features, checked, kept) if review else [],
        )

    def _check_all(
        self, features: Sequence[Any], default_level: int | None
    ) -> tuple[list[_Checked], list[tuple[int, MallcastError]]]:
        checked: list[_Checked] = []
        errors: list[tuple[int, MallcastError]] = []
        refs: dict[str, int] = {}
        for index, raw in enumerate(features):
            try:
                item = self._check(index, raw, default_level)
                ref = item.properties.ref
                if ref is not None and ref in refs:
                    raise Conflict(
                        f"ref {ref!r} is also used by feature {refs[ref]}",
                        code="duplicate_ref", details={"ref": ref},
                    )  # fmt: skip
            except MallcastError as exc:
                errors.append((index, exc))
                continue
            if item.properties.ref is not None:
                refs[item.properties.ref] = index
            checked.append(item)
        return checked, errors

    def _check(self, index: int, raw: Any, default_level: int | None) -> _Checked:
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            raise InvalidInput("not a GeoJSON Feature (type must be \"Feature\")",
                               code="invalid_geojson")  # fmt: skip
        raw_properties = raw.get("properties") or {}
        if default_level is not None and isinstance(raw_properties, dict):
            own = raw_properties.get("level")
            numeric = isinstance(own, int | float) and not isinstance(own, bool)
            if numeric and own != default_level:
                raise InvalidInput(
                    f"the feature is on level {own!r}, but this import is for level "
                    f"{default_level} (?level={default_level}): fix the feature or import it "
                    "with its own level",
                    code="level_mismatch", details={"level": own, "import_level": default_level},
                )  # fmt: skip
            if own is None or numeric:  # else ("1", true) the properties' check names the type
                raw_properties = {**raw_properties, "level": default_level}
        kind_given = isinstance(raw_properties, dict) and raw_properties.get("kind") is not None
        if not kind_given and isinstance(raw_properties, dict):
            kind = kind_from_category(raw_properties.get("category"), self.categories)
            if kind is not None:
                raw_properties, kind_given = {**raw_properties, "kind": kind.value}, True
        try:
            properties = ZoneProperties.model_validate(raw_properties)
        except ValidationError as exc:
            issue = exc.errors()[0]
            field = ".".join(str(part) for part in issue["loc"])
            raise InvalidInput(
                f"properties.{field}: {issue['msg']}" if field else f"properties: {issue['msg']}",
                details={"field": f"properties.{field}" if field else "properties"},
            ) from None
        shape = parse_area(raw.get("geometry"), max_vertices=self.limits.max_vertices)
        self._check_inside(shape)
        level_id = None
        if properties.level is not None:
            level_id = self.levels.get(properties.level)
            if level_id is None:
                raise InvalidInput(
                    f"mall {self.mall.id} has no level {properties.level} "
                    f"(its levels: {sorted(self.levels)})",
                    code="unknown_level", details={"level": properties.level},
                )  # fmt: skip
        if properties.tenant is not None and properties.tenant not in self.tenants:
            raise InvalidInput(
                f"tenant {properties.tenant} is not a tenant of mall {self.mall.id}",
                code="unknown_tenant", details={"tenant": properties.tenant},
            )  # fmt: skip
        return _Checked(index, properties, shape, level_id, kind_given)

    def _check_inside(self, shape: Area) -> None:
        if self.allowed.covers(shape):
            return
        if self.allowed.covers(swap_axes(shape)):
            raise InvalidInput(
                "the zone lies in the mall's footprint only with latitude and longitude "
                "exchanged: GeoJSON positions are [longitude, latitude]",
                code="latitude_longitude_order",
            )
        outside = shape.difference(self.footprint)
        where = outside.representative_point() if not outside.is_empty else shape.centroid
        raise InvalidInput(
            f"the zone is not inside the mall's footprint (tolerance "
            f"{self.limits.footprint_tolerance_m} m); e.g. {where.x}, {where.y} lies outside",
            code="zone_outside_footprint",
            details={"location": [where.x, where.y]},
        )

    def _duplicates(
        self, checked: list[_Checked], targets: list[Zone | None]
    ) -> list[tuple[int, MallcastError]]:
        """New zones identical (name, level, geometry) to one the mall has: the same floor
        imported twice without refs."""
        fresh = [c for c, target in zip(checked, targets, strict=True) if target is None]
        if not fresh:
            return []
        names = {c.properties.name for c in fresh}
        levels = {c.level_id for c in fresh}
        on_levels: ColumnElement[bool] = Zone.level_id.in_([lv for lv in levels if lv is not None])
        if None in levels:
            on_levels = on_levels | Zone.level_id.is_(None)
        stored: dict[tuple[str, int | None], list[tuple[int, Area]]] = {}
        for zone_id, name, level_id, geom in self.session.execute(
            select(Zone.id, Zone.name, Zone.level_id, Zone.geom).where(
                Zone.mall_id == self.mall.id, Zone.name.in_(names), on_levels
            )
        ):
            stored.setdefault((name, level_id), []).append((zone_id, to_shape(geom)))
        errors: list[tuple[int, MallcastError]] = []
        for item in fresh:
            for zone_id, shape in stored.get((item.properties.name, item.level_id), []):
                if shape.equals(item.shape):
                    errors.append((item.index, Conflict(
                        f"zone {zone_id} already has this name and geometry on this level: "
                        "import with refs to update zones, or replace the floor "
                        "(?level=N&replace=true)",
                        code="duplicate_zone", details={"zone_id": zone_id},
                    )))  # fmt: skip
                    break
        return errors

    def _replaced_zones(self, level: int | None, targets: list[Zone | None]) -> list[int]:
        """Zones of the level being replaced that the import does not update by ref."""
        if level is None:
            raise InvalidInput("replace needs the level it replaces: ?level=N&replace=true",
                               code="replace_needs_level")  # fmt: skip
        kept = {target.id for target in targets if target is not None}
        on_level = self.session.scalars(
            select(Zone.id).where(
                Zone.mall_id == self.mall.id, Zone.level_id == self.levels.get(level)
            )
        )
        return [zone_id for zone_id in on_level if zone_id not in kept]

    def _refuse(self, features: Sequence[Any], errors: list[tuple[int, MallcastError]]) -> None:
        if len(features) == 1:
            raise errors[0][1]  # one zone: its own error, with its own status
        errors.sort(key=lambda pair: pair[0])
        raise InvalidInput(
            f"{len(errors)} of {len(features)} features are invalid; nothing was imported",
            code="import_failed",
            details={"errors": [
                {"index": index, **_names(features[index]), "code": exc.code,
                 "message": exc.message, "details": exc.details}
                for index, exc in errors
            ]},
        )  # fmt: skip

    def _stored_units(self, checked: list[_Checked], leaving: set[int]) -> list[StoredUnit]:
        """The units the mall keeps on the levels the import touches (for its warnings)."""
        level_ids = {item.level_id for item in checked}
        on_levels: ColumnElement[bool] = Zone.level_id.in_([i for i in level_ids if i is not None])
        if None in level_ids:
            on_levels = on_levels | Zone.level_id.is_(None)
        ordinals = {level_id: ordinal for ordinal, level_id in self.levels.items()}
        return [
            StoredUnit(zone_id, ordinals.get(level_id) if level_id else None, to_shape(geom), name)
            for zone_id, name, level_id, geom, kind, occupancy in self.session.execute(
                select(Zone.id, Zone.name, Zone.level_id, Zone.geom, Zone.kind, Zone.occupancy)
                .where(Zone.mall_id == self.mall.id, on_levels)
            )
            if zone_id not in leaving and is_unit(kind, occupancy)
        ]  # fmt: skip

    def _zones_by_ref(self, refs: list[str | None]) -> dict[str, Zone]:
        wanted = [ref for ref in refs if ref]
        if not wanted:
            return {}
        zones = self.session.scalars(
            select(Zone).where(Zone.mall_id == self.mall.id, Zone.ref.in_(wanted))
        )
        return {zone.ref: zone for zone in zones if zone.ref is not None}


def _warnings(
    features: Sequence[Any], checked: list[_Checked], stored: list[StoredUnit]
) -> list[ImportWarning]:
    zones = [
        PlanZone(item.index, item.properties.level, item.shape, item.properties.kind.value,
                 item.properties.occupancy.value if item.properties.occupancy else None,
                 item.kind_given)
        for item in checked
    ]  # fmt: skip
    return [
        ImportWarning(index=warning.index, **_names(features[warning.index]), code=warning.code,
                      message=warning.message, details=warning.details)
        for warning in review(zones, stored)
    ]  # fmt: skip


def _names(raw: Any) -> dict[str, Any]:
    """What a person finds a feature by: its GeoJSON id, ref and name, when it has them."""
    if not isinstance(raw, dict):
        return {}
    properties = raw.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    found = {"id": raw.get("id"), "ref": properties.get("ref"), "name": properties.get("name")}
    return {key: value for key, value in found.items() if isinstance(value, str | int)}


def _row(mall_id: int, item: _Checked) -> dict[str, Any]:
    """A new zone's row, for one INSERT of many."""
    now = utcnow()
    columns = _columns(item.properties, item.shape, item.level_id)
    return {"mall_id": mall_id, **columns, "created_at": now, "updated_at": now}


def _fill(zone: Zone, properties: ZoneProperties, shape: Area, level_id: int | None) -> None:
    for column, value in _columns(properties, shape, level_id).items():
        setattr(zone, column, value)


def _columns(properties: ZoneProperties, shape: Area, level_id: int | None) -> dict[str, Any]:
    return {
        "name": properties.name,
        "kind": properties.kind.value,
        "level_id": level_id,
        "tenant_id": properties.tenant,
        "dwell_seconds": properties.dwell_seconds,
        "ref": properties.ref,
        "occupancy": properties.occupancy.value if properties.occupancy else None,
        "geom": from_shape(shape, 4326),
        "properties": properties.model_dump(mode="json", exclude=set(COLUMN_PROPERTIES)),
    }
