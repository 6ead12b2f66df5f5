"""Scripted walks through the real mall: positions in metres, turned into lon/lat pings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from shapely.geometry import shape

from demo.seed import floor_plans, footprint
from geofence.index import NO_LEVEL, ZoneIndex, ZoneShape
from geofence.presence import Observation

# Two Starbucks units, one above the other: F1 (level 0) and F2 (level 1).
STARBUCKS_F1 = "F1 STARBUCKS COFFEE 2"
STARBUCKS_F2 = "F2 STARBUCKS COFFEE 1"


@dataclass(frozen=True)
class Mall:
    index: ZoneIndex
    ids: dict[str, int]  # "<floor> <name> <n>" -> zone id

    def zone(self, key: str) -> ZoneShape:
        return self.index.zones[self.ids[key]]

    def offset(self, lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
        kx, ky = self.index.frame.metres_per_degree
        return lon + east_m / kx, lat + north_m / ky


@cache
def real_mall(dwell_s: int = 60, occupancy: str | None = None) -> Mall:
    """Every unit of every floor as a store zone (ids from 1), dwell threshold `dwell_s`; as
    units (occupancy inference) unless `occupancy` says "area" (the per-ping rule)."""
    zones: list[ZoneShape] = []
    ids: dict[str, int] = {}
    counts: dict[str, int] = {}
    for plan in floor_plans():
        for unit in plan.units:
            name = unit["properties"]["name"]
            key = f"{plan.name} {name}"
            counts[key] = counts.get(key, 0) + 1
            zone_id = len(zones) + 1
            ids[f"{key} {counts[key]}"] = zone_id
            zones.append(ZoneShape(zone_id, plan.ordinal, shape(unit["geometry"]), "store", name,
                                   dwell_s, occupancy=occupancy))  # fmt: skip
    return Mall(ZoneIndex.build(1, 1, footprint(), zones), ids)


def observe(
    mall: Mall, pings: Iterable[tuple[float, float, float, float, int | None]]
) -> list[Observation]:
    """(ts, lon, lat, accuracy_m, level) -> observations with the zones the index finds."""
    pings = list(pings)
    where = mall.index.locate(
        [p[1] for p in pings], [p[2] for p in pings],
        [NO_LEVEL if p[4] is None else p[4] for p in pings],
    )  # fmt: skip
    return [Observation(p[0], p[1], p[2], p[3], p[4], zones)
            for p, zones in zip(pings, where, strict=True)]  # fmt: skip
