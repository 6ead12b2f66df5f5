"""Operators: zones as GeoJSON Features, and whole floor plans as FeatureCollections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.auth import Operator, OperatorMall, OperatorPrincipal
from api.deps import SessionDep, SettingsDep, UnitOfWorkRoute
from api.params import ZoneId
from api.rules import geometry_limits
from api.schemas import error_responses
from core.errors import InvalidInput
from core.settings import Settings
from geofence import zones
from geofence.schemas import (
    FeatureCollectionOut,
    ZoneFeature,
    ZoneFeatureCollection,
    ZoneFeatureOut,
    ZoneImportResult,
    ZoneKind,
    ZonePatch,
)

router = APIRouter(
    prefix="/v1/malls/{mall_id}/zones", tags=["operators: zones"], route_class=UnitOfWorkRoute
)

LevelFilter = Annotated[
    str | None,
    Query(
        description="A level ordinal (zones of that level), or `all` (zones spanning all levels)",
        examples=["0", "all"],
        pattern=r"^(all|-?1?[0-9]|-20|[1-9][0-9]|1[0-9][0-9]|200)$",  # -20..200
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
    views = zones.list_zones(
        session,
        operator.scope,
        mall.id,
        level=_level_ordinal(level),
        all_levels_only=level == "all",
        kinds=[k.value for k in kind or ()],
    )
    return FeatureCollectionOut(features=[view.feature() for view in views])


# The body is read by the handler (below), so its schema is written here; its kinds refer to
# the document's own ZoneKind, not to a copy of their own.
_IMPORT_SCHEMA = ZoneFeatureCollection.model_json_schema(
    ref_template="#/components/schemas/{model}"
)
_IMPORT_SCHEMA.pop("$defs", None)
_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _IMPORT_SCHEMA},
        "application/zip": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "An IMDF archive (docs/geofencing.md, section 4)",
            },
        },
    },
}


@router.post(
    "/import",
    summary="Import a floor plan (GeoJSON, or an IMDF archive): create or update (by ref) "
    "every feature, or none",
    response_model=ZoneImportResult,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    openapi_extra={"requestBody": _IMPORT_BODY},
)
async def import_zones(
    request: Request,
    mall: OperatorMall,
    operator: Operator,
    session: SessionDep,
    settings: SettingsDep,
    level: Annotated[
        int | None, Query(ge=-20, le=200, description="Level of features that name none")
    ] = None,
    dry_run: Annotated[bool, Query(description="Check everything, store nothing")] = False,
    replace: Annotated[
        bool,
        Query(
            description="Replace the floor: with ?level, the level's zones that the import "
            "does not update (by ref) are deleted, all in one transaction"
        ),
    ] = False,
) -> ZoneImportResult:
    # The body is read here, after the operator's key was checked: a floor plan may be
    # megabytes, and nobody else gets to make the server parse that much.
    raw = await request.body()
    if raw.startswith(_ZIP_MAGIC):  # an IMDF archive, whatever Content-Type the client said
        if level is not None or replace:
            raise InvalidInput(
                "an IMDF archive names the levels of its zones itself: "
                "send it without ?level and ?replace",
                code="imdf_parameters",
            )
        return await run_in_threadpool(
            zones.import_imdf,
            session,
            operator.scope,
            mall.id,
            raw,
            geometry_limits(settings),
            dry_run=dry_run,
        )
    body = await run_in_threadpool(_feature_collection, raw)
    return await run_in_threadpool(
        _import, session, operator, mall.id, body, settings, level, replace, dry_run
    )


_ZIP_MAGIC = b"PK\x03\x04"


def _feature_collection(raw: bytes) -> ZoneFeatureCollection:
    try:
        return ZoneFeatureCollection.model_validate_json(raw)
    except ValidationError as exc:
        # Named from the body, as FastAPI names the fields of the bodies it reads itself.
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=None) from None


def _import(
    session: Session,
    operator: OperatorPrincipal,
    mall_id: int,
    body: ZoneFeatureCollection,
    settings: Settings,
    level: int | None,
    replace: bool,
    dry_run: bool,
) -> ZoneImportResult:
    return zones.import_zones(
        session,
        operator.scope,
        mall_id,
        body.features,
        geometry_limits(settings),
        default_level=level,
        replace=replace,
        dry_run=dry_run,
        categories=body.categories,
    )


@router.post(
    "",
    summary="Create a zone from a GeoJSON Feature",
    response_model=ZoneFeatureOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_zone(
    mall: OperatorMall,
    body: ZoneFeature,
    operator: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> ZoneFeatureOut:
    view = zones.create_zone(session, operator.scope, mall.id, body, geometry_limits(settings))
    return view.feature()


@router.get(
    "/{zone_id:int}",
    summary="Read a zone as a GeoJSON Feature",
    response_model=ZoneFeatureOut,
    responses=error_responses(401, 403, 404),
)
def read_zone(
    mall: OperatorMall, zone_id: ZoneId, operator: Operator, session: SessionDep
) -> ZoneFeatureOut:
    return zones.get_zone(session, operator.scope, mall.id, zone_id).feature()


@router.patch(
    "/{zone_id:int}",
    summary="Change a zone's geometry and/or properties (others stay as they are)",
    response_model=ZoneFeatureOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_zone(
    mall: OperatorMall,
    zone_id: ZoneId,
    body: ZonePatch,
    operator: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> ZoneFeatureOut:
    view = zones.update_zone(
        session, operator.scope, mall.id, zone_id, body, geometry_limits(settings)
    )
    return view.feature()


@router.delete(
    "/{zone_id:int}",
    summary="Delete a zone",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
def delete_zone(
    mall: OperatorMall,
    zone_id: ZoneId,
    operator: Operator,
    session: SessionDep,
) -> Response:
    zones.delete_zone(session, operator.scope, mall.id, zone_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _level_ordinal(level: str | None) -> int | None:
    if level is None or level == "all":
        return None
    try:
        ordinal = int(level)
    except ValueError:
        ordinal = None
    if ordinal is None or not -20 <= ordinal <= 200:
        raise InvalidInput(
            f"level must be a level ordinal (-20..200) or `all`, not {level[:40]!r}",
            details={"field": "query.level"},
        )
    return ordinal
