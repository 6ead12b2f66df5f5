"""Operators: zones as GeoJSON Features, and whole floor plans as FeatureCollections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.auth import Operator, OperatorMall
from api.db import SessionDep
from api.deps import ZoneCacheDep
from api.params import ZoneId
from api.schemas import error_responses
from api.settings import SettingsDep
from core.errors import InvalidInput
from geofence import service
from geofence.schemas import (
    FeatureCollectionOut,
    ZoneFeature,
    ZoneFeatureCollection,
    ZoneImportResult,
    ZoneKind,
    ZonePatch,
)

router = APIRouter(prefix="/v1/malls/{mall_id}/zones", tags=["operators: zones"])

LevelFilter = Annotated[
    str | None,
    Query(
        description="A level ordinal (zones of that level), or `all` (zones spanning all levels)",
        examples=["0", "all"],
    ),
]


@router.get(
    "",
    summary="Export zones as a GeoJSON FeatureCollection",
    response_model=FeatureCollectionOut,
    responses=error_responses(401, 403, 404, 422),
)
def export_zones(
    mall: OperatorMall,
    operator: Operator,
    session: SessionDep,
    level: LevelFilter = None,
    kind: Annotated[list[ZoneKind] | None, Query(description="Only these kinds")] = None,
) -> FeatureCollectionOut:
    views = service.list_zones(
        session,
        operator.scope,
        mall.id,
        level=_level_ordinal(level),
        all_levels_only=level == "all",
        kinds=[k.value for k in kind or ()],
    )
    return FeatureCollectionOut(features=[view.feature() for view in views])


@router.post(
    "/import",
    summary="Import a floor plan: create or update (by ref) every feature, or none",
    response_model=ZoneImportResult,
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
def import_zones(
    mall: OperatorMall,
    body: ZoneFeatureCollection,
    operator: Operator,
    session: SessionDep,
    cache: ZoneCacheDep,
    settings: SettingsDep,
    level: Annotated[
        int | None, Query(ge=-20, le=200, description="Level of features that name none")
    ] = None,
    dry_run: Annotated[bool, Query(description="Check everything, store nothing")] = False,
) -> ZoneImportResult:
    result = service.import_zones(
        session,
        operator.scope,
        mall.id,
        body.features,
        settings.geometry_limits(),
        default_level=level,
        dry_run=dry_run,
    )
    if dry_run:
        session.rollback()
    else:
        session.commit()
        cache.invalidate()
    return result


@router.post(
    "",
    summary="Create a zone from a GeoJSON Feature",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_zone(
    mall: OperatorMall,
    body: ZoneFeature,
    operator: Operator,
    session: SessionDep,
    cache: ZoneCacheDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    view = service.create_zone(session, operator.scope, mall.id, body, settings.geometry_limits())
    session.commit()
    cache.invalidate()
    return view.feature()


@router.get(
    "/{zone_id}", summary="Read a zone as a GeoJSON Feature",
    responses=error_responses(401, 403, 404),
)  # fmt: skip
def read_zone(
    mall: OperatorMall, zone_id: ZoneId, operator: Operator, session: SessionDep
) -> dict[str, Any]:
    return service.get_zone(session, operator.scope, mall.id, zone_id).feature()


@router.patch(
    "/{zone_id}",
    summary="Change a zone's geometry and/or properties (others stay as they are)",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_zone(
    mall: OperatorMall,
    zone_id: ZoneId,
    body: ZonePatch,
    operator: Operator,
    session: SessionDep,
    cache: ZoneCacheDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    view = service.update_zone(
        session, operator.scope, mall.id, zone_id, body, settings.geometry_limits()
    )
    session.commit()
    cache.invalidate()
    return view.feature()


@router.delete(
    "/{zone_id}",
    summary="Delete a zone",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
def delete_zone(
    mall: OperatorMall,
    zone_id: ZoneId,
    operator: Operator,
    session: SessionDep,
    cache: ZoneCacheDep,
) -> Response:
    service.delete_zone(session, operator.scope, mall.id, zone_id)
    session.commit()
    cache.invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _level_ordinal(level: str | None) -> int | None:
    if level is None or level == "all":
        return None
    try:
        return int(level)
    except ValueError:
        raise InvalidInput(
            f"level must be a level ordinal or `all`, not {level!r}",
            details={"field": "query.level"},
        ) from None
