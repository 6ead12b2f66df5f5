"""The domains' rules and limits, as the settings set them: built here, once per use, so that
the domains take plain values and never read the settings themselves."""

from __future__ import annotations

from core.settings import Settings
from geofence.floorplan import GeometryLimits
from geofence.ingest import IngestLimits
from geofence.pings import PingLimits
from geofence.presence import PresenceRules
from geofence.stop import OccupancyRules


def geometry_limits(settings: Settings) -> GeometryLimits:
    return GeometryLimits(
        max_vertices=settings.max_zone_vertices,
        max_import_features=settings.max_import_features,
        footprint_tolerance_m=settings.footprint_tolerance_m,
    )


def presence_rules(settings: Settings) -> PresenceRules:
    return PresenceRules(
        exit_margin_m=settings.exit_margin_m,
        enter_circle_share=settings.enter_circle_share,
        max_accuracy_m=settings.max_accuracy_m,
        max_speed_mps=settings.max_speed_mps,
        timeout_s=settings.presence_timeout_s,
        occupancy=OccupancyRules(enter_confidence=settings.enter_confidence),
    )


def ingest_limits(settings: Settings) -> IngestLimits:
    pings = PingLimits(future_s=settings.ping_future_s, horizon_s=settings.ping_horizon_s)
    return IngestLimits(batch_max=settings.ping_batch_max, pings=pings)
