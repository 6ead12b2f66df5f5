"""A mall's floor plan as the console's maps draw it: every zone, every level, one document."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.scope import MallScope
from geofence import levels, zones
from geofence.malls import get_mall


def floor_plan(session: Session, scope: MallScope, mall_id: int) -> dict[str, Any]:
    """GeoJSON of the mall's zones (lon/lat, as the API exports them), with its levels and the
    point the maps centre their metric frame on."""
    mall = get_mall(session, scope, mall_id)
    views = zones.list_zones(session, scope, mall_id)
    floors = [
        {"ordinal": level.ordinal, "name": level.name}
        for level in levels.list_levels(session, scope, mall_id)
    ]
    return {
        "type": "FeatureCollection",
        "features": [view.feature().model_dump(mode="json") for view in views],
        "levels": floors,
        "mall": {"id": mall.id, "name": mall.name},
    }
