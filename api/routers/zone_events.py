"""Operators: the zone events of a mall, with how sure occupancy inference was of each enter."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import Operator, OperatorMall
from api.deps import SessionDep, UnitOfWorkRoute
from api.params import MAX_ID, SinceInstant, UntilInstant
from api.schemas import error_responses
from core.errors import InvalidInput
from geofence import events
from geofence.event_schemas import ZoneEventsOut

router = APIRouter(prefix="/v1/malls", tags=["operators: presence"], route_class=UnitOfWorkRoute)


@router.get(
    "/{mall_id}/zone-events",
    summary="Zone events (enter, dwell, exit), newest first, a page at a time",
    response_model=ZoneEventsOut,
    responses=error_responses(401, 403, 404, 422),
)
def list_zone_events(
    mall: OperatorMall,
    operator: Operator,
    session: SessionDep,
    zone_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="One zone's")] = None,
    device_id: Annotated[uuid.UUID | None, Query(description="One device's")] = None,
    kind: Annotated[Literal["enter", "dwell", "exit"] | None, Query()] = None,
    since: SinceInstant = None,
    until: UntilInstant = None,
    min_confidence: Annotated[
        float | None, Query(ge=0, le=1, description="Unit enters at least this sure")
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,18}$", description="next_cursor of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ZoneEventsOut:
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            "until must be later than since", code="empty_range", details={"field": "query.until"}
        )
    where = events.EventFilter(zone_id, device_id, kind, since, until, min_confidence)
    after = int(cursor) if cursor is not None else None
    return events.list_events(session, operator.scope, mall.id, where, after=after, limit=limit)
