"""The real mall (ILC site 1) as an IMDF archive, as a venue-mapping tool would export it.

Each floor is a level (two of them split between two buildings, as multi-building venues have
them); each unit a unit of the IMDF category that says what it is, a shop a `room` with its
brand as the occupant anchored in it (the unit itself unnamed, as exported plans often have
it), restaurants' occupants of category `restaurant`. Walls, a door and an amenity that mallcast
does not read come along, as they do in real archives. Ids are UUIDs derived from the plan's
own, so that two exports of one plan are the same archive.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

from shapely.geometry import mapping

from demo.seed import floor_plans, unit_kind

_NAMESPACE = uuid.UUID("9f3f1c56-4a57-4c55-9a0e-6f1b0c6a1d11")
_UNIT_CATEGORIES = {
    "vacant": "room", "restroom": "restroom", "seating": "lounge", "atrium": "opentobelow",
    "service": "nonpublic", "parking": "parking",
}  # fmt: skip


def imdf_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(part) for part in parts)))


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def feature(kind: str, ident: str, geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"id": ident, "type": "Feature", "feature_type": kind, "geometry": geometry,
            "properties": properties}  # fmt: skip


def ilc_imdf_files() -> dict[str, dict[str, Any]]:
    """The archive's files, by name, as JSON."""
    levels, units, occupants, anchors = [], [], [], []
    for plan in floor_plans():
        level_ids = [imdf_id("level", plan.name, building) for building in ("north", "south")]
        for building, level_id in enumerate(level_ids[: 2 if plan.ordinal == 0 else 1]):
            levels.append(feature("level", level_id, mapping(plan.outline), category="unspecified",
                                  ordinal=plan.ordinal, outdoor=False,
                                  name={"en": f"Floor {plan.name}", "zh-Hans": f"{plan.name}层"},
                                  short_name={"en": plan.name},
                                  building_ids=[imdf_id("building", building)]))  # fmt: skip
        for index, unit in enumerate(plan.units):
            raw = unit["properties"]
            kind = unit_kind(raw)
            unit_id = imdf_id("unit", raw["id"])
            category = _UNIT_CATEGORIES.get(kind, "room")
            named = {"en": raw["name"]} if kind not in ("store", "restaurant") else None
            level_id = level_ids[index % 2 if plan.ordinal == 0 else 0]  # F1: two buildings
            units.append(feature("unit", unit_id, unit["geometry"], category=category,
                                 name=named, level_id=level_id))  # fmt: skip
            if kind in ("store", "restaurant"):
                anchor_id = imdf_id("anchor", raw["id"])
                anchors.append(feature("anchor", anchor_id, None, unit_id=unit_id))
                occupants.append(feature("occupant", imdf_id("occupant", raw["id"]), None,
                                         name={"en": raw["name"]}, anchor_id=anchor_id,
                                         category="restaurant" if kind == "restaurant"
                                         else "clothing"))  # fmt: skip
    first = floor_plans()[0]
    wall = feature(
        "unit",
        imdf_id("wall", first.name),
        mapping(first.outline.boundary.buffer(1e-6)),
        category="structure",
        name=None,
        level_id=imdf_id("level", first.name, "north"),
    )
    door = feature("opening", imdf_id("door", 1), None, category="pedestrian", level_id=None)
    return {
        "manifest.json": {"version": "1.0.0", "language": "en-US", "generated_by": "tests"},
        "level.geojson": collection(levels),
        "unit.geojson": collection([*units, wall]),
        "anchor.geojson": collection(anchors),
        "occupant.geojson": collection(occupants),
        "opening.geojson": collection([door]),
        "amenity.geojson": collection([]),
    }  # fmt: skip


def archive(files: dict[str, Any], folder: str = "ilc-site1/") -> bytes:
    """A zip of the files, in a folder as tools export them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, content in files.items():
            zipped.writestr(folder + name, json.dumps(content))
    return buffer.getvalue()
