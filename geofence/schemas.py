"""Request and response shapes of malls, levels and zones (GeoJSON in and out)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from core.fields import omitted_when_none
from core.numbers import JSON_ID_MAX, JsonFloat, JsonInt
from geofence.pings import instant

GEOJSON_POLYGON_EXAMPLE = {
    "type": "Polygon",
    "coordinates": [[[120.0755, 30.2925], [120.0762, 30.2925], [120.0762, 30.2931],
                     [120.0755, 30.2931], [120.0755, 30.2925]]],
}  # fmt: skip

# Geometries are taken as plain JSON and checked by geofence.geojson, which names the exact
# ring and coordinate at fault; pydantic's generic messages could not. The schema still says
# what they must be.
_POSITION = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 2,
    "maxItems": 2,
    "description": "[longitude, latitude] (no altitude: floors are levels)",
}
_RING = {
    "type": "array",
    "items": _POSITION,
    "minItems": 4,
    "description": "Closed: the last position repeats the first",
}
_POLYGON = {"type": "array", "items": _RING, "minItems": 1}
GEOJSON_AREA_SCHEMA = {
    "oneOf": [
        {"type": "object", "required": ["type", "coordinates"],
         "properties": {"type": {"const": "Polygon"}, "coordinates": _POLYGON}},
        {"type": "object", "required": ["type", "coordinates"],
         "properties": {"type": {"const": "MultiPolygon"},
                        "coordinates": {"type": "array", "items": _POLYGON, "minItems": 1}}},
    ],
    "description": "GeoJSON Polygon or MultiPolygon (RFC 7946: longitude, latitude)",
}  # fmt: skip
GeoJSONArea = Annotated[dict[str, Any], WithJsonSchema(GEOJSON_AREA_SCHEMA)]


class ZoneKind(StrEnum):
    STORE = "store"
    RESTAURANT = "restaurant"
    FOOD_COURT = "food_court"
    CORRIDOR = "corridor"
    ATRIUM = "atrium"
    ENTRANCE = "entrance"
    PARKING = "parking"
    ESCALATOR = "escalator"
    ELEVATOR = "elevator"
    STAIRS = "stairs"
    RESTROOM = "restroom"
    SEATING = "seating"
    SERVICE = "service"
    EVENT_AREA = "event_area"
    VACANT = "vacant"
    FOOTPRINT = "footprint"
    OTHER = "other"


class Occupancy(StrEnum):
    """How presence treats a zone: a unit is a room a person is in one at a time (occupancy
    inference over recent fixes decides which); an area overlaps freely (the per-ping rule)."""

    UNIT = "unit"
    AREA = "area"


OCCUPANCY_FIELD = (
    "unit or area; null: by kind (store, restaurant, restroom and vacant are units, every other "
    "kind an area). docs/geofencing.md explains both."
)


class MallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(
        description="IANA time zone, e.g. Asia/Shanghai", examples=["Asia/Shanghai"]
    )
    footprint: GeoJSONArea = Field(
        description="GeoJSON Polygon or MultiPolygon (longitude, latitude)",
        examples=[GEOJSON_POLYGON_EXAMPLE],
    )


class MallUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    footprint: GeoJSONArea | None = None


class MallOut(BaseModel):
    id: int
    name: str
    timezone: str
    footprint: dict[str, Any]
    zones_version: int
    created_at: datetime
    updated_at: datetime


class LevelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ordinal: JsonInt = Field(ge=-20, le=200, description="0 is the ground floor, -1 the one below")
    name: str = Field(min_length=1, max_length=100, examples=["F1"])


class LevelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ordinal: JsonInt | None = Field(default=None, ge=-20, le=200)
    name: str | None = Field(default=None, min_length=1, max_length=100)


class LevelOut(BaseModel):
    id: int
    ordinal: int
    name: str


class ZoneProperties(BaseModel):
    """The properties mallcast reads; any other property is kept as sent and returned."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=200)
    kind: ZoneKind = ZoneKind.STORE
    level: JsonInt | None = Field(
        default=None, description="Level ordinal; null: the zone spans all levels"
    )
    tenant: JsonInt | None = Field(default=None, description="Id of the tenant this store zone is")
    dwell_seconds: JsonInt = Field(default=60, ge=0, le=86_400)
    ref: str | None = Field(
        default=None, min_length=1, max_length=200, description="Your own id; imports upsert by it"
    )
    occupancy: Occupancy | None = Field(default=None, description=OCCUPANCY_FIELD)


class ZonePatchProperties(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: ZoneKind | None = None
    level: JsonInt | None = None
    tenant: JsonInt | None = None
    dwell_seconds: JsonInt | None = Field(default=None, ge=0, le=86_400)
    ref: str | None = Field(default=None, min_length=1, max_length=200)
    occupancy: Occupancy | None = Field(default=None, description=OCCUPANCY_FIELD)


class ZoneFeature(BaseModel):
    """A zone as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: JsonInt | str | None = None
    geometry: GeoJSONArea = Field(examples=[GEOJSON_POLYGON_EXAMPLE])
    properties: ZoneProperties


class ZonePatch(BaseModel):
    """Change a zone: a new geometry and/or the properties to change (others stay)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"] = "Feature"
    geometry: GeoJSONArea | None = None
    properties: ZonePatchProperties = Field(default_factory=ZonePatchProperties)


class ZoneFeatureCollection(BaseModel):
    """A floor plan: features are validated one by one, so their errors can be listed."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    # At least one (the import says so itself, naming the problem: empty_import).
    features: list[dict[str, Any]] = Field(json_schema_extra={"minItems": 1})
    categories: dict[Annotated[str, Field(max_length=200)], ZoneKind] | None = Field(
        default=None,
        max_length=1000,
        description="The plan's own words for kinds, read for features without a `kind` (a "
        'converter\'s category ids, say: {"5d3579f37ea32247d2a96081": "parking"}); a '
        "feature's `category` may be one word or a list",
    )


class ImportWarning(BaseModel):
    """A feature imported as asked that an operator should look at again."""

    index: int = Field(description="The feature's place in the import, from 0")
    id: int | str | None = Field(default=None, description="The feature's GeoJSON id")
    ref: str | None = None
    name: str | None = None
    code: str = Field(description="kind_not_given, zone_too_small or unit_holds_units")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ZoneImportResult(BaseModel):
    created: int
    updated: int
    deleted: int = Field(default=0, description="Zones of the level replaced (replace=true)")
    zone_ids: list[int] = Field(description="Ids of the zones, in the order of the features")
    dry_run: bool
    warnings: list[ImportWarning] = Field(
        default_factory=list,
        description="Features imported as asked that look wrong (docs/geofencing.md, section 4)",
    )
    levels_created: list[int] = Field(
        default_factory=list, description="Ordinals of the levels an IMDF archive brought"
    )
    left_out: dict[str, int] = Field(
        default_factory=dict,
        description="What an IMDF archive held that is not a zone (walls, openings, amenities, "
        "other files), by kind, with counts",
    )


class ZonePropertiesOut(BaseModel):
    """What mallcast keeps of a zone, with every other property as it was sent."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    level: int | None = Field(description="Level ordinal; null: the zone spans all levels")
    tenant: int | None
    dwell_seconds: int
    ref: str | None
    occupancy: Occupancy = Field(
        description="How presence treats the zone now: the operator's choice, or its kind's"
    )
    occupancy_set: bool = Field(description="Whether the operator chose it (false: by kind)")


class ZoneFeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon (WGS 84)")
    properties: ZonePropertiesOut


class FeatureCollectionOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ZoneFeatureOut]


class PingIn(BaseModel):
    """One location fix (documented shape; pings are checked one by one, see PingBatch)."""

    ts: JsonFloat | str = Field(description="Unix seconds, or RFC 3339 with a time zone")
    lon: JsonFloat = Field(ge=-180, le=180)
    lat: JsonFloat = Field(ge=-90, le=90)
    accuracy_m: JsonFloat = Field(gt=0, description="Horizontal accuracy radius, metres")
    level: JsonInt | None = Field(default=None, description="Floor ordinal, if the app knows it")
    speed_mps: JsonFloat | None = None
    heading_deg: JsonFloat | None = None


PING_EXAMPLE = {"ts": 1795500000, "lon": 120.07537, "lat": 30.29315, "accuracy_m": 5, "level": 0}


# Unix seconds or RFC 3339, read as a ping's `ts` is; documented as either.
SentAt = Annotated[
    float,
    BeforeValidator(lambda value: instant(value, "sent_at")),
    WithJsonSchema({"anyOf": [{"type": "number", "maximum": 1e11},
                              {"type": "string", "format": "date-time"}]}),
]  # fmt: skip


class PingBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mall_id: JsonInt | None = Field(
        default=None, ge=1, le=JSON_ID_MAX, description="The mall, if the app knows it"
    )
    sent_at: SentAt | None = Field(
        default=None,
        description="The phone's clock when it sent this batch (Unix seconds or RFC 3339). Send "
        "it with every batch: a phone whose clock is more than a minute off the server's has its "
        "pings' times moved by the difference (`clock_offset_s` in the answer), so that they are "
        "neither refused as in the future nor too late for an offer",
        examples=[1795500030],
    )
    # Items are checked one by one, not here: a bad ping is rejected alone, in the answer,
    # while the others are ingested (docs/testing.md lists this as a deliberate leniency).
    pings: list[Any] = Field(
        description="1 to 500 (MALLCAST_PING_BATCH_MAX) pings shaped as PingIn; a bad ping is "
        "rejected alone, with its reason, and the others go on",
        examples=[[PING_EXAMPLE]],
        json_schema_extra={"minItems": 1, "maxItems": 500,
                           "items": PingIn.model_json_schema()},
    )  # fmt: skip


class PingRejection(BaseModel):
    index: int
    code: str
    message: str


class PingFlags(BaseModel):
    index: int
    flags: list[str] = Field(description="Why the ping caused no transition")


class DecisionOut(BaseModel):
    """What the promotion engine decided for an event; title, body and code only when a
    promotion was chosen (absent otherwise, not null)."""

    decision_id: int
    outcome: Literal["sent", "holdout", "none"]
    promotion_id: int | None
    reason: str | None
    title: str | None = omitted_when_none()
    body: str | None = omitted_when_none()
    code: str | None = omitted_when_none()


class EventOut(BaseModel):
    id: int
    kind: Literal["enter", "dwell", "exit"]
    subject: Literal["mall", "zone"]
    zone_id: int | None
    zone_name: str | None
    zone_kind: str | None
    level: int | None
    at: datetime
    dwell_s: float | None
    reason: str | None
    confidence: float | None = Field(
        default=None,
        description="Unit enters: the probability that the shopper is inside (null for areas)",
    )
    evidence_from: datetime | None = Field(
        default=None, description="Unit enters: the first fix of the stop that decided"
    )
    evidence_fixes: int | None = Field(
        default=None, description="Unit enters: how many fixes that stop held"
    )
    decision: DecisionOut | None = Field(
        default=None, description="What the promotion engine decided for this event"
    )


class PingBatchResult(BaseModel):
    mall_id: int | None
    accepted: int = Field(description="New pings stored")
    duplicates: int = Field(description="Pings sent before (or twice in this batch)")
    rejected: int
    outside: int = Field(description="Pings outside every mall: used to end a visit, not stored")
    clock_offset_s: float = Field(
        description="Seconds added to this batch's ping times: how far the phone's clock is off "
        "(from `sent_at`); 0 within a minute"
    )
    rejections: list[PingRejection]
    flagged: list[PingFlags]
    events: list[EventOut]


class ZoneFootfall(BaseModel):
    zone_id: int
    visits: int = Field(description="Enters in the range")
    shoppers: int = Field(description="Distinct shoppers who entered")
    mean_dwell_s: float | None = Field(description="Mean stay of the exits in the range")
    median_dwell_s: float | None


class FootfallOut(BaseModel):
    mall_id: int
    since: date = Field(description="First day, the mall's calendar")
    until: date = Field(description="Last day, included")
    zones: list[ZoneFootfall] = Field(description="Zones with at least one event in the range")


class ZoneNow(BaseModel):
    zone_id: int
    shoppers: int


class LivePresenceOut(BaseModel):
    mall_id: int
    at: datetime
    shoppers: int = Field(description="Shoppers in the mall now (heard from within the timeout)")
    zones: list[ZoneNow] = Field(description="Zones with at least one shopper in them now")
