"""An IMDF archive read as a floor plan: its levels, and zone features in mallcast's import format.

IMDF (Apple's Indoor Mapping Data Format, OGC community standard) is what venue-mapping tools
export a mall as: a zip of GeoJSON files, one per feature type, tied together by UUIDs. What
mallcast takes from it:

- `level.geojson`: the floors, by `ordinal` (several buildings' levels of one ordinal are one
  mallcast level), named by their `name` label;
- `unit.geojson`: the rooms and walkways, each a zone on its level (`ref` = the IMDF id, so
  that importing the archive again updates them). A `room` is a store when an occupant is
  anchored in it (a restaurant when the occupant sells food), vacant when none is; a
  `foodservice` unit a restaurant; walls, columns and other structure are left out;
- `occupant.geojson` and `anchor.geojson`: who is in which unit, for its name (a brand's name is
  the occupant's; the unit's is often empty);
- `kiosk.geojson`: kiosks, as small store units;
- `section.geojson`: parts of a floor (a food court, a parking section), as areas.

Names are IMDF labels (`{"en": "Food Court", "zh-Hans": "美食广场"}`): the manifest's language
first, then English, then the first given. Pure: the archive's bytes in, plain data out.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from geofence.planreview import kind_from_category
from geofence.schemas import Occupancy, ZoneKind

# The feature types read; the others (openings, amenities, fixtures, details, buildings,
# footprints, addresses, relationships, geofences, the venue) are counted as left out.
_READ = (
    "manifest.json",
    "level.geojson",
    "unit.geojson",
    "kiosk.geojson",
    "occupant.geojson",
    "anchor.geojson",
    "section.geojson",
)
_MAX_FILES = 64

# Unit categories that are the building, not a place a shopper is in.
_STRUCTURE = frozenset(
    {
        "brick",
        "column",
        "concrete",
        "drywall",
        "glass",
        "structure",
        "wood",
        "vegetation",
        "road",
        "shaft",
        "opentobelow",
    }
)
_ROOMS = frozenset({"room", "unspecified", "unenclosedarea"})
_FOOD = frozenset(
    {
        "restaurant",
        "foodservice",
        "foodandbeverage",
        "food",
        "cafe",
        "coffee",
        "fastfood",
        "bar",
        "bakery",
        "dessert",
        "icecream",
        "tea",
        "juice",
        "eatingdrinking",
    }
)
_UNIT_KINDS: dict[str, ZoneKind] = {
    "office": ZoneKind.SERVICE,
    "storage": ZoneKind.SERVICE,
    "kitchen": ZoneKind.SERVICE,
    "serverroom": ZoneKind.SERVICE,
    "mailroom": ZoneKind.SERVICE,
    "firstaid": ZoneKind.SERVICE,
    "lounge": ZoneKind.SEATING,
    "waitingroom": ZoneKind.SEATING,
    "terrace": ZoneKind.SEATING,
    "smokingarea": ZoneKind.SEATING,
    "ramp": ZoneKind.CORRIDOR,
    "footbridge": ZoneKind.CORRIDOR,
    "platform": ZoneKind.CORRIDOR,
    "movietheater": ZoneKind.STORE,
    "fitnessroom": ZoneKind.STORE,
}
_SECTION_KINDS: dict[str, ZoneKind] = {"eatingdrinking": ZoneKind.FOOD_COURT}


class ImdfError(ValueError):
    """The archive is not IMDF mallcast can read; `path` names the file (and feature)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message, self.path = message, path


@dataclass(frozen=True)
class ImdfLevel:
    ordinal: int
    name: str


@dataclass(frozen=True)
class ImdfPlan:
    levels: list[ImdfLevel]  # one per ordinal, lowest first
    features: list[dict[str, Any]]  # zone features for the import, each with its level
    left_out: dict[str, int] = field(default_factory=dict)  # what was not read, by kind


@dataclass(frozen=True)
class Unpacked:
    files: dict[str, Any]  # the files mallcast reads, parsed, by name
    unread: list[str]  # the names of the others


def unpack(archive: bytes, *, max_bytes: int) -> Unpacked:
    """The archive's files that mallcast reads, parsed, by file name. Folders inside the zip
    are ignored (tools nest the files in one); at most `max_bytes` are unpacked in all, counted
    while reading (a zip's own sizes can lie)."""
    try:
        zipped = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile:
        raise ImdfError("the body is not a zip archive", "body") from None
    with zipped:
        entries = [info for info in zipped.infolist() if not info.is_dir()]
        if len(entries) > _MAX_FILES:
            raise ImdfError(
                f"{len(entries)} files in the archive; IMDF has at most {_MAX_FILES}", "body"
            )
        files: dict[str, Any] = {}
        budget = max_bytes
        for info in entries:
            name = PurePosixPath(info.filename).name
            if name not in _READ:
                continue
            if name in files:
                raise ImdfError(f"the archive holds {name} twice", info.filename)
            try:
                with zipped.open(info) as member:
                    raw = member.read(budget + 1)
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                RuntimeError,
                NotImplementedError,
            ) as exc:  # corrupt, encrypted, unknown compression
                raise ImdfError(f"{name} cannot be unpacked: {exc}", info.filename) from None
            budget -= len(raw)
            if budget < 0:
                raise ImdfError(f"the archive unpacks to more than {max_bytes} bytes", "body")
            try:
                files[name] = json.loads(raw)
            except (ValueError, RecursionError):
                raise ImdfError(f"{name} is not JSON", name) from None
    unread = sorted(
        PurePosixPath(info.filename).name
        for info in entries
        if PurePosixPath(info.filename).name not in _READ
    )
    return Unpacked(files, unread)


def read_plan(files: Mapping[str, Any], unread: Sequence[str] = ()) -> ImdfPlan:
    """Levels and zone features of an unpacked archive's files (`unpack`); `unread`: the names
    of its other files, counted as left out."""
    if "level.geojson" not in files:
        raise ImdfError("an IMDF archive needs level.geojson (and unit.geojson)", "level.geojson")
    manifest = files.get("manifest.json")
    language = manifest.get("language") if isinstance(manifest, dict) else None
    reader = _Reader(language if isinstance(language, str) else None)
    levels = reader.levels(_features(files, "level.geojson"))
    units_anchored = reader.occupants(
        _features(files, "occupant.geojson"), _features(files, "anchor.geojson")
    )
    features = [
        *reader.units(_features(files, "unit.geojson"), levels, units_anchored),
        *reader.kiosks(_features(files, "kiosk.geojson"), levels),
        *reader.sections(_features(files, "section.geojson"), levels),
    ]
    left_out = Counter(reader.left_out)
    for name in unread:
        left_out[f"file {name}"] += 1
    ordinals = sorted(set(levels.values()), key=lambda level: level.ordinal)
    return ImdfPlan(ordinals, features, dict(left_out))


def _features(files: Mapping[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, feature) of one file; an absent file has none."""
    collection = files.get(name)
    if collection is None:
        return []
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        raise ImdfError(f"{name} is not a GeoJSON FeatureCollection", name)
    found = []
    for index, feature in enumerate(collection["features"]):
        path = f"{name}.features[{index}]"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise ImdfError("a feature needs an object of properties", path)
        if not isinstance(feature.get("id"), str) or not feature["id"]:
            raise ImdfError("an IMDF feature's id is a UUID string", path)
        found.append((path, feature))
    return found


@dataclass
class _Reader:
    language: str | None
    left_out: list[str] = field(default_factory=list)

    def label(self, labels: Any) -> str | None:
        """The text of an IMDF label object in the archive's language (or English, or any)."""
        if isinstance(labels, str):
            return labels.strip() or None
        if not isinstance(labels, dict):
            return None
        texts = {
            str(key): value.strip()
            for key, value in labels.items()
            if isinstance(value, str) and value.strip()
        }
        if not texts:
            return None
        wanted = [self.language, (self.language or "").split("-")[0], "en", "en-US"]
        return next(
            (texts[key] for key in wanted if key and key in texts), next(iter(texts.values()))
        )

    def levels(self, features: list[tuple[str, dict[str, Any]]]) -> dict[str, ImdfLevel]:
        """Each IMDF level id's mallcast level; one name per ordinal (the first one's)."""
        by_id: dict[str, ImdfLevel] = {}
        by_ordinal: dict[int, ImdfLevel] = {}
        for path, feature in features:
            ordinal = feature["properties"].get("ordinal")
            if isinstance(ordinal, float) and ordinal.is_integer():
                ordinal = int(ordinal)
            if (
                not isinstance(ordinal, int)
                or isinstance(ordinal, bool)
                or not -20 <= ordinal <= 200
            ):
                raise ImdfError("a level's ordinal is an integer from -20 to 200", path)
            props = feature["properties"]
            name = self.label(props.get("short_name")) or self.label(props.get("name"))
            level = by_ordinal.setdefault(ordinal, ImdfLevel(ordinal, (name or str(ordinal))[:100]))
            by_id[feature["id"]] = level
        return by_id

    def occupants(
        self,
        occupants: list[tuple[str, dict[str, Any]]],
        anchors: list[tuple[str, dict[str, Any]]],
    ) -> dict[str, tuple[str, str | None]]:
        """The occupant (name, category) of each unit id that has one."""
        unit_of = {feature["id"]: feature["properties"].get("unit_id") for _, feature in anchors}
        found: dict[str, tuple[str, str | None]] = {}
        for _, feature in occupants:
            props = feature["properties"]
            unit_id = unit_of.get(props.get("anchor_id"))
            name = self.label(props.get("name"))
            if not isinstance(unit_id, str) or name is None:
                self.left_out.append("occupant without a unit or a name")
                continue
            category = props.get("category")
            found.setdefault(unit_id, (name, category if isinstance(category, str) else None))
        return found

    def units(
        self,
        features: list[tuple[str, dict[str, Any]]],
        levels: Mapping[str, ImdfLevel],
        occupied: Mapping[str, tuple[str, str | None]],
    ) -> list[dict[str, Any]]:
        zones = []
        for path, feature in features:
            props = feature["properties"]
            category = str(props.get("category") or "unspecified").strip().lower()
            if category.split(".")[0] in _STRUCTURE:
                self.left_out.append(f"unit {category}")
                continue
            occupant = occupied.get(feature["id"])
            if category in _ROOMS:
                food = occupant is not None and (occupant[1] or "").lower() in _FOOD
                kind = (
                    (ZoneKind.RESTAURANT if food else ZoneKind.STORE)
                    if occupant
                    else ZoneKind.VACANT
                )
            else:
                kind = _UNIT_KINDS.get(category) or kind_from_category(category) or ZoneKind.OTHER
            name = (occupant[0] if occupant else None) or self.label(props.get("name"))
            extra = {"imdf_category": category}
            if occupant and occupant[1]:
                extra["occupant_category"] = occupant[1]
            zones.append(self.zone(path, feature, levels, kind, name or category, extra))
        return zones

    def kiosks(
        self, features: list[tuple[str, dict[str, Any]]], levels: Mapping[str, ImdfLevel]
    ) -> list[dict[str, Any]]:
        return [
            self.zone(
                path,
                feature,
                levels,
                ZoneKind.STORE,
                self.label(feature["properties"].get("name")) or "kiosk",
                {"imdf_category": "kiosk", "occupancy": Occupancy.UNIT.value},
            )
            for path, feature in features
        ]

    def sections(
        self, features: list[tuple[str, dict[str, Any]]], levels: Mapping[str, ImdfLevel]
    ) -> list[dict[str, Any]]:
        zones = []
        for path, feature in features:
            category = str(feature["properties"].get("category") or "unspecified").lower()
            kind = _SECTION_KINDS.get(category) or kind_from_category(category) or ZoneKind.OTHER
            name = self.label(feature["properties"].get("name")) or category
            # A section spans units (a retail section, a food court): an area, whatever its kind.
            zones.append(
                self.zone(
                    path,
                    feature,
                    levels,
                    kind,
                    name,
                    {"imdf_category": category, "occupancy": "area"},
                )
            )
        return zones

    def zone(
        self,
        path: str,
        feature: dict[str, Any],
        levels: Mapping[str, ImdfLevel],
        kind: ZoneKind,
        name: str,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        level = levels.get(feature["properties"].get("level_id"))
        if level is None:
            raise ImdfError("level_id names no level of level.geojson", path)
        return {
            "type": "Feature",
            "id": feature["id"],
            "geometry": feature.get("geometry"),
            "properties": {
                "name": name[:200],
                "kind": kind.value,
                "level": level.ordinal,
                "ref": feature["id"][:200],
                **extra,
            },
        }
