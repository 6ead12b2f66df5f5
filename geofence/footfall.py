"""What happened in each zone, and who is in each now: counts only, never a device.

Footfall is the zone enters of a range of the mall's days, the shoppers among them and their
dwell (from the exits, which carry how long the stay was). Live presence reads the presence
rows of shoppers heard from within the presence timeout: the zones their state says they are in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.days import day_range, instants
from core.scope import MallScope
from geofence.index import MALL
from geofence.malls import get_mall
from geofence.schemas import FootfallOut, LivePresenceOut, ZoneFootfall, ZoneNow

_FOOTFALL = text(
    """
    SELECT zone_id,
           count(*) FILTER (WHERE kind = 'enter') AS visits,
           count(DISTINCT device_id) FILTER (WHERE kind = 'enter') AS shoppers,
           avg(dwell_s) FILTER (WHERE kind = 'exit') AS mean_dwell_s,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY dwell_s)
               FILTER (WHERE kind = 'exit') AS median_dwell_s
    FROM zone_events
    WHERE mall_id = :mall AND subject = 'zone' AND at >= :start AND at < :end
    GROUP BY zone_id ORDER BY zone_id
    """
)

_LIVE = text(
    """
    SELECT CAST(key AS bigint) AS zone_id, count(*) AS shoppers
    FROM presence p CROSS JOIN LATERAL jsonb_object_keys(p.state -> 'stays') AS key
    WHERE p.mall_id = :mall AND p.last_ping_at > :since AND key ~ '^[0-9]+$'
    GROUP BY 1 ORDER BY 1
    """
)
_LIVE_TOTAL = text("SELECT count(*) FROM presence WHERE mall_id = :mall AND last_ping_at > :since")


def footfall(
    session: Session,
    scope: MallScope,
    mall_id: int,
    since: date | None,
    until: date | None,
    now: datetime,
) -> FootfallOut:
    mall = get_mall(session, scope, mall_id)
    since, until = day_range(mall.timezone, since, until, now)
    start, end = instants(mall.timezone, since, until)
    rows = session.execute(_FOOTFALL, {"mall": mall_id, "start": start, "end": end}).mappings()
    zones = [
        ZoneFootfall(
            zone_id=row["zone_id"],
            visits=row["visits"],
            shoppers=row["shoppers"],
            mean_dwell_s=_seconds(row["mean_dwell_s"]),
            median_dwell_s=_seconds(row["median_dwell_s"]),
        )
        for row in rows
    ]
    return FootfallOut(mall_id=mall_id, since=since, until=until, zones=zones)


def live_presence(
    session: Session, scope: MallScope, mall_id: int, now: datetime, timeout_s: float
) -> LivePresenceOut:
    get_mall(session, scope, mall_id)
    params = {"mall": mall_id, "since": now - timedelta(seconds=timeout_s)}
    zones = [
        ZoneNow(zone_id=zone_id, shoppers=shoppers)
        for zone_id, shoppers in session.execute(_LIVE, params)
        if zone_id != MALL
    ]
    total = int(session.execute(_LIVE_TOTAL, params).scalar_one())
    return LivePresenceOut(mall_id=mall_id, at=now, shoppers=total, zones=zones)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
