"""The demo mall is the real ILC site: five floors, 1,286 units, a dozen tenants."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select, text

from core.db import Database
from core.scope import MallScope
from core.tenants.models import Tenant
from demo.seed import MALL_NAME, TENANTS, floor_plans, seed_demo
from geofence import zones
from geofence.models import Level, Mall, Zone


def test_seed_builds_the_real_mall(db: Database) -> None:
    with db.sessions() as session:
        mall = seed_demo(session)
        session.commit()
        levels = session.scalars(select(Level).where(Level.mall_id == mall.id)).all()
        assert sorted((lv.ordinal, lv.name) for lv in levels) == [
            (-1, "B1"), (0, "F1"), (1, "F2"), (2, "F3"), (3, "F4"),
        ]  # fmt: skip
        units = sum(len(plan.units) for plan in floor_plans())
        assert units == 1286
        zones = session.scalars(select(Zone).where(Zone.mall_id == mall.id)).all()
        assert len(zones) == units
        kinds = Counter(zone.kind for zone in zones)
        assert kinds["parking"] == 530
        assert kinds["restaurant"] == 64

        tenants = session.scalars(select(Tenant).where(Tenant.mall_id == mall.id)).all()
        assert sorted(t.name for t in tenants) == sorted(t.name for t in TENANTS)
        owned = Counter(zone.tenant_id for zone in zones if zone.tenant_id is not None)
        assert set(owned) == {t.id for t in tenants}  # every tenant has a real unit
        starbucks_units = sum(
            unit["properties"]["name"] == "STARBUCKS COFFEE"
            for plan in floor_plans()
            for unit in plan.units
        )
        assert starbucks_units >= 2
        assert owned[next(t.id for t in tenants if t.name == "STARBUCKS COFFEE")] == (
            starbucks_units
        )

        # PostGIS agrees: every zone valid, inside the footprint (within the 1 m tolerance:
        # some real units overhang the outline by centimetres).
        bad = session.execute(
            text("SELECT count(*) FROM zones z JOIN malls m ON m.id = z.mall_id "
                 "WHERE NOT ST_IsValid(z.geom) "
                 "OR NOT ST_CoveredBy(z.geom, ST_Buffer(m.footprint, 1 / 111320.0))")
        ).scalar()  # fmt: skip
        assert bad == 0


def test_seed_is_idempotent_and_exact(db: Database) -> None:
    with db.sessions() as session:
        first = seed_demo(session)
        session.commit()
        ids = set(session.scalars(select(Zone.id)))
        again = seed_demo(session)
        session.commit()
        assert again.id == first.id
        assert set(session.scalars(select(Zone.id))) == ids
        assert session.scalar(select(func.count()).select_from(Mall)) == 1
        assert session.scalar(select(Mall.name)) == MALL_NAME

        plan = floor_plans()[2]
        exported = zones.list_zones(session, MallScope.everything(), first.id, level=1)
        by_ref = {view.zone.ref: view.feature().model_dump() for view in exported}
        for unit in plan.units:
            geometry = by_ref[unit["properties"]["id"]]["geometry"]
            assert geometry["coordinates"] == unit["geometry"]["coordinates"]


def test_demo_promotions_are_approved_and_target_their_own_stores(db: Database) -> None:
    from promotions.models import Promotion

    with db.sessions() as session:
        mall = seed_demo(session, with_promotions=True)
        session.commit()
        seed_demo(session, with_promotions=True)  # again: nothing doubles
        session.commit()
        promotions = session.scalars(select(Promotion)).all()
        assert len(promotions) >= 20
        assert {p.status for p in promotions} == {"approved"}
        assert len({p.tenant_id for p in promotions}) == len(TENANTS)
        for promotion in promotions:
            owners = set(
                session.scalars(
                    select(Zone.tenant_id).where(Zone.id.in_(promotion.targets["zones"]))
                )
            )
            assert owners == {promotion.tenant_id}
            assert promotion.translations["zh-CN"]["title"]
        assert any(p.audience.get("segments") == ["lapsed"] for p in promotions)
        assert any(p.schedule.get("windows") for p in promotions)
        assert mall.id
