"""OwnTracks (HTTP mode) payloads in, native pings and OwnTracks waypoints out. Pure.

The app POSTs the JSON it would publish over MQTT (https://owntracks.org/booklet/tech/json/)
and reads the answer as a JSON array of messages for it. Of its payload types, mallcast acts on
`location`; the others (transition, waypoint(s), lwt, status, steps, card, ...) are accepted and
ignored, since presence is computed from locations.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import shapely

from core.errors import BadRequest, InvalidInput
from core.numbers import finite_float
from geofence.index import MALL, ZoneIndex

# OwnTracks identifies a waypoint by its creation time `tst`: ours are stable per zone.
_WAYPOINT_EPOCH = 1_600_000_000
# Phones monitor few regions at once (iOS: 20 per app).
MAX_WAYPOINTS = 20
_WAYPOINT_KINDS = ("entrance", "food_court", "event_area", "restaurant", "store")
# Without `acc` a fix is treated as too coarse to cause transitions (see docs/owntracks.md).
UNKNOWN_ACCURACY_M = 100.0


def location_ping(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A native ping for a `location` payload; None for a payload type we do not act on."""
    kind = payload.get("_type")
    if not isinstance(kind, str):
        raise InvalidInput("an OwnTracks payload needs a string _type", code="invalid_payload")
    if kind == "encrypted":
        raise BadRequest(
            "encrypted OwnTracks payloads are not supported: turn encryption off in the app "
            "(HTTPS protects the connection)",
            code="encryption_not_supported",
        )
    if kind != "location":
        return None
    for key in ("lat", "lon", "tst"):
        if key not in payload:
            raise InvalidInput(f"an OwnTracks location needs {key}", code="invalid_payload")
    ping: dict[str, Any] = {
        "ts": payload["tst"],
        "lon": payload["lon"],
        "lat": payload["lat"],
        "accuracy_m": payload.get("acc", UNKNOWN_ACCURACY_M),
    }
    velocity = payload.get("vel")
    if _is_number(velocity) and velocity >= 0:
        ping["speed_mps"] = velocity / 3.6  # OwnTracks sends km/h
    course = payload.get("cog")
    if _is_number(course) and 0 <= course <= 360:
        ping["heading_deg"] = course
    return ping


def set_waypoints(index: ZoneIndex) -> dict[str, Any]:
    """A `cmd` that makes the app monitor the mall and its main zones as circular regions."""
    waypoints = [_waypoint(MALL, "Mall", index.footprint, index)]
    candidates = [z for z in index.zones.values() if z.kind in _WAYPOINT_KINDS and z.name.strip()]
    candidates.sort(key=lambda z: (_WAYPOINT_KINDS.index(z.kind), -index.area_m2(z.zone_id)))
    for zone in candidates[: MAX_WAYPOINTS - 1]:
        floor = "" if zone.level is None else f" (level {zone.level})"
        waypoints.append(_waypoint(zone.zone_id, zone.name + floor, zone.geometry, index))
    return {
        "_type": "cmd",
        "action": "setWaypoints",
        "waypoints": {"_type": "waypoints", "waypoints": waypoints},
    }


def _waypoint(zone_id: int, desc: str, geometry: Any, index: ZoneIndex) -> dict[str, Any]:
    centre = geometry.representative_point()
    metric = index.frame.geometry(geometry)
    x, y = index.frame.to_xy(centre.x, centre.y)
    # The circle that holds the zone: its farthest vertex from the centre.
    coords = shapely.get_coordinates(metric)
    radius = float(max(math.hypot(cx - float(x), cy - float(y)) for cx, cy in coords))
    return {
        "_type": "waypoint",
        "desc": desc,
        "lat": round(centre.y, 7),
        "lon": round(centre.x, 7),
        "rad": max(10, math.ceil(radius)),
        "tst": _WAYPOINT_EPOCH + zone_id,
        "rid": f"mallcast-{index.mall_id}-{zone_id}",
    }


def _is_number(value: Any) -> TypeGuard[float]:
    return finite_float(value) is not None
