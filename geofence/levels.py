"""Levels (floors) of a mall, by ordinal: create, renumber, delete, read."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from core.scope import MallScope
from geofence.cache import bump_zones_version
from geofence.malls import flush_or_retry, get_mall
from geofence.models import Level, Zone
from geofence.schemas import (
    LevelCreate,
    LevelUpdate,
)


def list_levels(session: Session, scope: MallScope, mall_id: int) -> Sequence[Level]:
    get_mall(session, scope, mall_id)
    return session.scalars(
        select(Level).where(Level.mall_id == mall_id).order_by(Level.ordinal)
    ).all()


def get_level(session: Session, scope: MallScope, mall_id: int, ordinal: int) -> Level:
    get_mall(session, scope, mall_id)
    level = level_by_ordinal(session, mall_id, ordinal)
    if level is None:
        raise NotFound(f"mall {mall_id} has no level {ordinal}", code="level_not_found")
    return level


def create_level(session: Session, scope: MallScope, mall_id: int, data: LevelCreate) -> Level:
    mall = get_mall(session, scope, mall_id, for_update=True)
    _check_level_free(session, mall_id, ordinal=data.ordinal, name=data.name)
    level = Level(mall_id=mall_id, ordinal=data.ordinal, name=data.name)
    session.add(level)
    bump_zones_version(session, mall)
    flush_or_retry(session)
    return level


def update_level(
    session: Session, scope: MallScope, mall_id: int, ordinal: int, data: LevelUpdate
) -> Level:
    mall = get_mall(session, scope, mall_id, for_update=True)
    level = get_level(session, scope, mall_id, ordinal)
    new_ordinal = data.ordinal if data.ordinal is not None else level.ordinal
    new_name = data.name if data.name is not None else level.name
    _check_level_free(
        session,
        mall_id,
        ordinal=new_ordinal if new_ordinal != level.ordinal else None,
        name=new_name if new_name != level.name else None,
    )
    level.ordinal, level.name = new_ordinal, new_name
    bump_zones_version(session, mall)
    flush_or_retry(session)
    return level


def delete_level(session: Session, scope: MallScope, mall_id: int, ordinal: int) -> None:
    mall = get_mall(session, scope, mall_id, for_update=True)
    level = get_level(session, scope, mall_id, ordinal)
    zones = session.scalar(select(func.count()).select_from(Zone).where(Zone.level_id == level.id))
    if zones:
        raise Conflict(
            f"level {ordinal} still has {zones} zones: delete or move them first",
            code="level_not_empty",
            details={"zones": zones},
        )
    session.delete(level)
    bump_zones_version(session, mall)
    session.flush()


def level_by_ordinal(session: Session, mall_id: int, ordinal: int) -> Level | None:
    return session.scalar(select(Level).where(Level.mall_id == mall_id, Level.ordinal == ordinal))


def _check_level_free(
    session: Session, mall_id: int, *, ordinal: int | None, name: str | None
) -> None:
    if ordinal is not None and level_by_ordinal(session, mall_id, ordinal) is not None:
        raise Conflict(f"mall {mall_id} has a level {ordinal} already", code="duplicate_ordinal")
    if name is not None and session.scalar(
        select(Level.id).where(Level.mall_id == mall_id, Level.name == name)
    ):
        raise Conflict(f"mall {mall_id} has a level named {name!r} already", code="duplicate_name")
