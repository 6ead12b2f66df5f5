"""What other domains know of a zone: geofencing builds these facts, promotions read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZoneFact:
    """What targeting needs to know of a zone (given by geofencing)."""

    zone_id: int
    tenant_id: int | None
    kind: str
