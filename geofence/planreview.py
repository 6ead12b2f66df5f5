"""What a floor plan says without saying it: a kind read from the plan's own category, and the
features an import takes but an operator should look at again (pure; geofence.floorplan asks).

An import refuses what cannot be right (geofence.floorplan); these are plans that can be right
but rarely are: a feature with no kind (it becomes a store), a zone smaller than a person, a unit
around other units (a floor's outline brought in as a store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geofence.index import LocalFrame, is_unit
from geofence.schemas import ZoneKind

# A plan's words for kinds (IMDF unit categories among them), read when a feature has no `kind`.
_CATEGORY_KINDS: dict[str, ZoneKind] = {kind.value: kind for kind in ZoneKind} | {
    "shop": ZoneKind.STORE,
    "retail": ZoneKind.STORE,
    "foodservice": ZoneKind.RESTAURANT,
    "walkway": ZoneKind.CORRIDOR,
    "lobby": ZoneKind.ATRIUM,
    "opentobelow": ZoneKind.ATRIUM,
    "movingwalkway": ZoneKind.ESCALATOR,
    "steps": ZoneKind.STAIRS,
    "toilet": ZoneKind.RESTROOM,
    "nonpublic": ZoneKind.SERVICE,
    "floor": ZoneKind.FOOTPRINT,
    "level": ZoneKind.FOOTPRINT,
}

SMALLEST_ZONE_M2 = 1.0  # less than a person standing: no fix, nor the mean of many, lands in it


def kind_from_category(category: Any, own: Mapping[str, ZoneKind] | None = None) -> ZoneKind | None:
    """The kind a plan's `category` names (`restroom.female` is a restroom), or None. A plan may
    give several categories (a list: the first that names a kind counts) and its own words for
    kinds (`own`: a converter's category ids, say), which come first."""
    for value in category if isinstance(category, list) else [category]:
        if not isinstance(value, str):
            continue
        if own and value in own:
            return own[value]
        word = value.strip().lower().replace("-", "_").replace(" ", "_")
        kind = _CATEGORY_KINDS.get(word) or _CATEGORY_KINDS.get(word.split(".")[0])
        if kind is not None:
            return kind
    return None


@dataclass(frozen=True)
class PlanZone:
    """A feature of the import as the review sees it."""

    index: int
    level: int | None
    shape: BaseGeometry  # lon/lat
    kind: str
    occupancy: str | None
    kind_given: bool  # `kind`, or a category that names one

    @property
    def is_unit(self) -> bool:
        return is_unit(self.kind, self.occupancy)


@dataclass(frozen=True)
class PlanWarning:
    index: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredUnit:
    """A unit the mall has already, on a level the import touches (and that it keeps)."""

    zone_id: int
    level: int | None
    shape: BaseGeometry  # lon/lat
    name: str


def review(zones: Sequence[PlanZone], stored: Sequence[StoredUnit] = ()) -> list[PlanWarning]:
    """Warnings on an import that passed its checks, in the order of the features."""
    if not zones:
        return []
    bounds = shapely.union_all([zone.shape.envelope for zone in zones]).bounds
    frame = LocalFrame((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    metric = [frame.geometry(zone.shape) for zone in zones]
    warnings = [
        PlanWarning(
            zone.index,
            "kind_not_given",
            "no kind: imported as a store, a unit shoppers are placed in one at a time; "
            "say `kind` (store, restaurant, corridor, parking, ...) or `occupancy`",
        )
        for zone in zones
        if not zone.kind_given
    ]
    warnings += [
        PlanWarning(
            zone.index,
            "zone_too_small",
            f"the zone covers {shape.area:.2g} m²: smaller than a person standing, no "
            "shopper's fixes will place them in it (check the plan's units)",
            {"area_m2": round(shape.area, 4)},
        )
        for zone, shape in zip(zones, metric, strict=True)
        if shape.area < SMALLEST_ZONE_M2
    ]
    warnings += _units_around_units(zones, metric, stored, frame)
    return sorted(warnings, key=lambda warning: warning.index)


def _units_around_units(
    zones: Sequence[PlanZone],
    metric: list[BaseGeometry],
    stored: Sequence[StoredUnit],
    frame: LocalFrame,
) -> list[PlanWarning]:
    """Units holding other units of their level, in the import or stored: a concession in a
    department store is fine, but a floor's outline brought in as a store holds every store of
    the floor."""
    # Every unit of the levels concerned: the import's (by feature) and the stored ones.
    units: list[tuple[int | None, BaseGeometry, int | StoredUnit]] = [
        (zones[i].level, metric[i], i)
        for i, zone in enumerate(zones)
        if zone.is_unit and not metric[i].is_empty
    ]
    units += [(unit.level, frame.geometry(unit.shape), unit) for unit in stored]
    if len(units) < 2:
        return []
    tree = shapely.STRtree([shape.representative_point() for _, shape, _ in units])
    warnings = []
    for level, shape, who in units:
        held = [
            units[j][2]
            for j in tree.query(shape, predicate="contains")
            if units[j][2] is not who and units[j][0] == level and units[j][1].area < shape.area
        ]
        if not held:
            continue
        if isinstance(who, int):  # a feature of the import
            warnings.append(
                PlanWarning(
                    zones[who].index,
                    "unit_holds_units",
                    f"this unit holds {len(held)} other units: a shopper surely in one of them is "
                    "placed there, elsewhere in this one; if it is the floor's outline, import it "
                    "as kind `footprint` (an area)",
                    {"units": len(held)},
                )
            )
            continue
        warnings += [
            PlanWarning(
                zones[i].index,
                "unit_holds_units",
                f"this unit lies in zone {who.zone_id} ({who.name}), a unit around it: a "
                "shopper surely in this one is placed here, elsewhere in that one; if that is "
                "the floor's outline, make it kind `footprint` (an area)",
                {"inside_zone_id": who.zone_id},
            )
            for i in held
            if isinstance(i, int)
        ]
    return warnings
