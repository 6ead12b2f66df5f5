"""The real mall the tests build on: floors and units of ILC 2.0 site 1 (see api/demo)."""

from __future__ import annotations

import copy
from typing import Any

from demo.seed import FloorPlan, floor_plans, footprint
from geofence.geojson import to_geojson


def floor(name: str) -> FloorPlan:
    return next(plan for plan in floor_plans() if plan.name == name)


def unit(floor_name: str, name: str) -> dict[str, Any]:
    """The first unit of that name on that floor, as the floor plan has it (a deep copy)."""
    for feature in floor(floor_name).units:
        if feature["properties"]["name"] == name:
            return copy.deepcopy(feature)
    raise KeyError(f"{floor_name} has no unit {name!r}")


def mall_body(name: str = "Xixi Yintai City") -> dict[str, Any]:
    return {"name": name, "timezone": "Asia/Shanghai", "footprint": to_geojson(footprint())}


def zone_feature(
    floor_name: str, unit_name: str, *, level: int | None = 0, **properties: Any
) -> dict[str, Any]:
    """A unit as a mallcast zone feature."""
    raw = unit(floor_name, unit_name)
    return {
        "type": "Feature",
        "geometry": raw["geometry"],
        "properties": {"name": unit_name, "kind": "store", "level": level, **properties},
    }
