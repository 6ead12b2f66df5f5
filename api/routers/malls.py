"""Operators: malls and their levels (floors)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.auth import Operator, OperatorMall
from api.deps import SessionDep, SettingsDep, UnitOfWorkRoute
from api.params import LevelOrdinal, SinceDay, UntilDay
from api.rules import geometry_limits
from api.schemas import error_responses
from geofence import footfall, levels, malls
from geofence.geojson import to_geojson
from geofence.models import Level, Mall
from geofence.schemas import (
    FootfallOut,
    LevelCreate,
    LevelOut,
    LevelUpdate,
    LivePresenceOut,
    MallCreate,
    MallOut,
    MallUpdate,
)

router = APIRouter(
    prefix="/v1/malls", tags=["operators: malls and levels"], route_class=UnitOfWorkRoute
)


def mall_out(mall: Mall) -> MallOut:
    return MallOut(
        id=mall.id,
        name=mall.name,
        timezone=mall.timezone,
        footprint=to_geojson(malls.mall_footprint(mall)),
        zones_version=mall.zones_version,
        created_at=mall.created_at,
        updated_at=mall.updated_at,
    )


def level_out(level: Level) -> LevelOut:
    return LevelOut(id=level.id, ordinal=level.ordinal, name=level.name)


@router.get(
    "",
    summary="List the malls you operate",
    response_model=list[MallOut],
    responses=error_responses(401, 403),
)
def list_malls(operator: Operator, session: SessionDep) -> list[MallOut]:
    return [mall_out(mall) for mall in malls.list_malls(session, operator.scope)]


@router.post(
    "",
    summary="Create a mall (platform operator)",
    status_code=status.HTTP_201_CREATED,
    response_model=MallOut,
    responses=error_responses(400, 401, 403, 409, 422),
)
def create_mall(
    body: MallCreate,
    operator: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> MallOut:
    mall = malls.create_mall(session, operator.scope, body, geometry_limits(settings))
    return mall_out(mall)


@router.get(
    "/{mall_id}",
    summary="Read a mall",
    response_model=MallOut,
    responses=error_responses(401, 403, 404),
)
def read_mall(mall: OperatorMall) -> MallOut:
    return mall_out(mall)


@router.patch(
    "/{mall_id}",
    summary="Change a mall's name, time zone or footprint",
    response_model=MallOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_mall(
    mall: OperatorMall,
    body: MallUpdate,
    operator: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> MallOut:
    mall = malls.update_mall(session, operator.scope, mall.id, body, geometry_limits(settings))
    return mall_out(mall)


@router.delete(
    "/{mall_id}",
    summary="Delete a mall with its levels, zones and tenants (platform operator)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409, 422),
)
def delete_mall(
    mall: OperatorMall,
    operator: Operator,
    session: SessionDep,
    confirm: Annotated[
        str | None,
        Query(max_length=200, description="The mall's name: needed when it holds zones or tenants"),
    ] = None,
) -> Response:
    malls.delete_mall(session, operator.scope, mall.id, confirm=confirm)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{mall_id}/levels",
    summary="List a mall's levels",
    response_model=list[LevelOut],
    responses=error_responses(401, 403, 404),
)
def list_levels(mall: OperatorMall, operator: Operator, session: SessionDep) -> list[LevelOut]:
    return [level_out(level) for level in levels.list_levels(session, operator.scope, mall.id)]


@router.post(
    "/{mall_id}/levels",
    summary="Add a level",
    status_code=status.HTTP_201_CREATED,
    response_model=LevelOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_level(
    mall: OperatorMall,
    body: LevelCreate,
    operator: Operator,
    session: SessionDep,
) -> LevelOut:
    level = levels.create_level(session, operator.scope, mall.id, body)
    return level_out(level)


@router.get(
    "/{mall_id}/levels/{ordinal}",
    summary="Read a level",
    response_model=LevelOut,
    responses=error_responses(401, 403, 404),
)
def read_level(
    mall: OperatorMall, ordinal: LevelOrdinal, operator: Operator, session: SessionDep
) -> LevelOut:
    return level_out(levels.get_level(session, operator.scope, mall.id, ordinal))


@router.patch(
    "/{mall_id}/levels/{ordinal}",
    summary="Rename or renumber a level",
    response_model=LevelOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_level(
    mall: OperatorMall,
    ordinal: LevelOrdinal,
    body: LevelUpdate,
    operator: Operator,
    session: SessionDep,
) -> LevelOut:
    level = levels.update_level(session, operator.scope, mall.id, ordinal, body)
    return level_out(level)


@router.delete(
    "/{mall_id}/levels/{ordinal}",
    summary="Delete an empty level",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
def delete_level(
    mall: OperatorMall,
    ordinal: LevelOrdinal,
    operator: Operator,
    session: SessionDep,
) -> Response:
    levels.delete_level(session, operator.scope, mall.id, ordinal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{mall_id}/footfall",
    summary="Footfall and dwell per zone over a range of the mall's days (counts only)",
    response_model=FootfallOut,
    responses=error_responses(401, 403, 404, 422),
)
def read_footfall(
    mall: OperatorMall,
    operator: Operator,
    session: SessionDep,
    since: SinceDay = None,
    until: UntilDay = None,
) -> FootfallOut:
    return footfall.footfall(session, operator.scope, mall.id, since, until, datetime.now(UTC))


@router.get(
    "/{mall_id}/presence",
    summary="Shoppers in each zone now (heard from within the presence timeout)",
    response_model=LivePresenceOut,
    responses=error_responses(401, 403, 404),
)
def read_presence(
    mall: OperatorMall, operator: Operator, session: SessionDep, settings: SettingsDep
) -> LivePresenceOut:
    return footfall.live_presence(
        session, operator.scope, mall.id, datetime.now(UTC), settings.presence_timeout_s
    )
