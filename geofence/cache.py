"""Each process keeps a ZoneIndex per mall, and notices when the zones change.

Every zone or level change bumps `malls.zones_version` in the same transaction. A replica reads
the versions of all malls (one small query) at most every `refresh_s` seconds, and rebuilds the
index of a mall whose version moved. An index is immutable and replaced whole, so a request uses
either the old index or the new one, never a half-built one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from geofence.geojson import Area
from geofence.index import LocalFrame, ZoneIndex, ZoneShape
from geofence.models import Level, Mall, Zone

_ZONES_CHANGED = "geofence.zones_changed"


def bump_zones_version(session: Session, mall: Mall) -> None:
    """Zones or levels of `mall` changed in this transaction: replicas rebuild its index."""
    mall.zones_version += 1
    mark_zones_changed(session)


def mark_zones_changed(session: Session) -> None:
    """This process drops its zone index once the session commits (api.deps.get_session)."""
    session.info[_ZONES_CHANGED] = True


def zones_changed(session: Session) -> bool:
    """Whether the committed transaction changed zones (asked once: it forgets)."""
    return bool(session.info.pop(_ZONES_CHANGED, False))


@dataclass(frozen=True)
class MallArea:
    mall_id: int
    version: int
    timezone: str
    footprint: Area
    surroundings: Area  # the footprint widened by the mall radius


@dataclass(frozen=True)
class MallDirectory:
    """The malls and where they are: which mall a ping belongs to."""

    malls: dict[int, MallArea]

    def find(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], only: int | None = None
    ) -> NDArray[np.int64]:
        """Per point, the id of the mall whose surroundings hold it, else 0."""
        found = np.zeros(len(lon), dtype=np.int64)
        for mall in self.malls.values():
            if only is not None and mall.mall_id != only:
                continue
            inside = shapely.intersects_xy(mall.surroundings, lon, lat) & (found == 0)
            found[inside] = mall.mall_id
        return found


class ZoneIndexCache:
    def __init__(
        self,
        *,
        refresh_s: float = 1.0,
        mall_radius_m: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_s = refresh_s
        self.mall_radius_m = mall_radius_m
        self._clock = clock
        self._checked_at = -float("inf")
        self._directory = MallDirectory({})
        self._indexes: dict[int, ZoneIndex] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """This process changed zones: look again on the next request."""
        self._checked_at = -float("inf")

    def directory(self, session: Session) -> MallDirectory:
        if self._clock() - self._checked_at >= self.refresh_s:
            self._refresh(session)
        return self._directory

    def index(self, session: Session, mall_id: int) -> ZoneIndex | None:
        mall = self.directory(session).malls.get(mall_id)
        if mall is None:
            return None
        current = self._indexes.get(mall_id)
        if current is not None and current.version == mall.version:
            return current
        with self._lock:
            current = self._indexes.get(mall_id)
            if current is None or current.version != mall.version:
                current = _load_index(session, mall)
                self._indexes[mall_id] = current
        return current

    def warm(self, session: Session) -> int:
        """Build every mall's index now (at startup), not in the first request that needs it
        (seconds for a large mall). Returns how many."""
        malls = list(self.directory(session).malls)
        for mall_id in malls:
            self.index(session, mall_id)
        return len(malls)

    def _refresh(self, session: Session) -> None:
        versions = {row[0]: row[1] for row in session.execute(select(Mall.id, Mall.zones_version))}
        known = {m.mall_id: m.version for m in self._directory.malls.values()}
        if versions != known:
            with self._lock:
                rows = session.execute(
                    select(Mall.id, Mall.zones_version, Mall.timezone, Mall.footprint)
                ).all()
                malls = {}
                for mall_id, version, timezone, footprint in rows:
                    shape = to_shape(footprint)
                    centre = shape.centroid
                    per_degree = min(LocalFrame(centre.x, centre.y).metres_per_degree)
                    widened = shape.buffer(self.mall_radius_m / per_degree)
                    shapely.prepare(widened)
                    malls[mall_id] = MallArea(mall_id, version, timezone, shape, widened)
                self._directory = MallDirectory(malls)
                for gone in set(self._indexes) - set(malls):
                    del self._indexes[gone]
        self._checked_at = self._clock()


def _load_index(session: Session, mall: MallArea) -> ZoneIndex:
    rows = session.execute(
        select(
            Zone.id,
            Level.ordinal,
            Zone.geom,
            Zone.kind,
            Zone.name,
            Zone.dwell_seconds,
            Zone.tenant_id,
            Zone.occupancy,
        )
        .outerjoin(Level, Zone.level_id == Level.id)
        .where(Zone.mall_id == mall.mall_id)
    ).all()
    zones = [
        ZoneShape(zone_id, level, to_shape(geom), kind, name, dwell, tenant, occupancy)
        for zone_id, level, geom, kind, name, dwell, tenant, occupancy in rows
    ]
    floors = session.scalars(select(Level.ordinal).where(Level.mall_id == mall.mall_id)).all()
    return ZoneIndex.build(
        mall.mall_id, mall.version, mall.footprint, zones, mall.timezone, floors=floors
    )
