"""The demo mall: five real floors of Xixi Yintai City, Hangzhou (ILC 2.0 sample data, site 1).

The floor plans ship in `demo/ilc_site1` (MIT licence, see its README). Seeding goes through
the same services as the operator API, so the demo exercises the real import path.
"""

from __future__ import annotations

import copy
import html
import json
import secrets
import stat
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from shapely.ops import unary_union
from sqlalchemy import select
from sqlalchemy.orm import Session

from access.keys import create_key, verify_key
from access.staff import ensure_user
from api.rules import geometry_limits
from core.db import Database
from core.scope import MallScope
from core.settings import Settings
from core.tenants import service as tenant_service
from core.tenants.models import Tenant
from core.tenants.schemas import TenantCreate
from geofence import levels, malls, zones
from geofence.floorplan import GeometryLimits
from geofence.geojson import to_geojson
from geofence.models import Mall, Zone
from geofence.schemas import LevelCreate, MallCreate
from promotions import catalog
from promotions.schemas import PromotionCreate

MALL_NAME = "Xixi Yintai City (ILC site 1)"
TIMEZONE = "Asia/Shanghai"
FLOORS = ("B1", "F1", "F2", "F3", "F4")

# The floor plans' first category id says what a unit is; facility units are told by name.
_CATEGORY_KINDS = {
    "5d3579f37ea32247d2a96081": "parking",
    "5d35733bdb07255e495599ac": "restaurant",
}
_FACILITY = "5d3577c8b7271665f903b6e3"
_FACILITY_KINDS = {
    "xishoujianfuzhumian": "restroom",  # 洗手间辅助面: restroom area
    "xiuxiqu": "seating",  # 休息区: rest area
    "zhongkong": "atrium",  # 中空: the void of an atrium
    "fuzhumian": "service",  # 辅助面: auxiliary areas (planters, shafts)
    "feikaifangquyu": "service",  # 非开放区域: not open to the public
}
_DWELL_SECONDS = {"store": 60, "restaurant": 180, "parking": 300, "seating": 300}


@dataclass(frozen=True)
class DemoTenant:
    name: str
    category: str
    unit_name: str  # the unit's name in the floor plan


# Stores of the real plan that the demo gives tenant accounts to.
TENANTS = (
    DemoTenant("STARBUCKS COFFEE", "cafe", "STARBUCKS COFFEE"),
    DemoTenant("adidas", "sportswear", "adidas"),
    DemoTenant("Levi's", "fashion", "Levis"),
    DemoTenant("MLB", "fashion", "MLB"),
    DemoTenant("CALVIN KLEIN JEANS", "fashion", "CALVIN KLEIN JEANS"),
    DemoTenant("Five Plus", "fashion", "Five Plus"),
    DemoTenant("POLO SPORT", "sportswear", "POLO SPORT"),
    DemoTenant("mothercare", "kids", "mothercare"),
    DemoTenant("adidas KIDS", "kids", "adidas KIDS"),
    DemoTenant("EYES MARK", "optical", "EYES MARK"),
    DemoTenant("Pizza Hut", "restaurant", "bishengke"),
    DemoTenant("Niuyan Hotpot", "restaurant", "niuyanhuoguo"),
)


@dataclass
class FloorPlan:
    name: str
    ordinal: int
    outline: Any
    units: list[dict[str, Any]] = field(default_factory=list)


@cache
def floor_plans() -> tuple[FloorPlan, ...]:
    """The five floors as shipped: outline (first feature) and unit features."""
    root = resources.files("demo").joinpath("ilc_site1")
    levels = json.loads(root.joinpath("floors.json").read_text())
    plans = []
    for floor in FLOORS:
        collection = json.loads(root.joinpath("floors", f"{floor}.geojson").read_text())
        outline, *units = collection["features"]
        plans.append(
            FloorPlan(floor, levels[floor]["level"], shape(outline["geometry"]), list(units))
        )
    return tuple(plans)


def footprint() -> Any:
    return unary_union([plan.outline for plan in floor_plans()])


def unit_kind(properties: dict[str, Any]) -> str:
    categories = properties.get("category") or [None]
    name = properties.get("name", "")
    if categories[0] in _CATEGORY_KINDS:
        return _CATEGORY_KINDS[categories[0]]
    if categories[0] == _FACILITY:
        # Facility units named after a shop are closed shop units (the plan shows "kongpu").
        return _FACILITY_KINDS.get(name, "vacant")
    if name == "kongpu":  # 空铺: an empty shop unit
        return "vacant"
    return "store"


def zone_features(plan: FloorPlan, tenant_ids: dict[str, int]) -> list[dict[str, Any]]:
    """The units of one floor in mallcast's import format."""
    features = []
    for unit in plan.units:
        raw = unit["properties"]
        name = html.unescape(raw.get("name") or raw.get("display") or raw["id"]).strip()
        kind = unit_kind(raw)
        features.append(
            {
                "type": "Feature",
                # A copy: the plans are cached, and callers may change what they get.
                "geometry": copy.deepcopy(unit["geometry"]),
                "properties": {
                    "name": name or raw["id"],
                    "kind": kind,
                    "level": plan.ordinal,
                    "ref": raw["id"],
                    "tenant": tenant_ids.get(raw.get("name", "")),
                    "dwell_seconds": _DWELL_SECONDS.get(kind, 60),
                    "display": html.unescape(raw.get("display") or ""),
                    "source": "ILC 2.0 site 1",
                },
            }
        )
    return features


def seed_demo(
    session: Session, limits: GeometryLimits | None = None, *, with_promotions: bool = False
) -> Mall:
    """Create the demo mall, or bring an existing one up to date (imports upsert by ref);
    with its tenants' promotions, approved, when asked."""
    limits = limits or GeometryLimits()
    scope = MallScope.everything()
    mall = session.scalar(select(Mall).where(Mall.name == MALL_NAME))
    if mall is None:
        mall = malls.create_mall(
            session,
            scope,
            MallCreate(name=MALL_NAME, timezone=TIMEZONE, footprint=to_geojson(footprint())),
            limits,
        )
    existing_levels = {level.ordinal for level in levels.list_levels(session, scope, mall.id)}
    for plan in floor_plans():
        if plan.ordinal not in existing_levels:
            levels.create_level(
                session, scope, mall.id, LevelCreate(ordinal=plan.ordinal, name=plan.name)
            )

    tenants = {tenant.name: tenant for tenant in tenant_service.list_tenants(session, mall.id)}
    tenant_ids: dict[str, int] = {}
    for demo in TENANTS:
        tenant: Tenant | None = tenants.get(demo.name)
        if tenant is None:
            tenant = tenant_service.create_tenant(
                session, mall.id, TenantCreate(name=demo.name, category=demo.category)
            )
        tenant_ids[demo.unit_name] = tenant.id

    for plan in floor_plans():
        zones.import_zones(
            session, scope, mall.id, zone_features(plan, tenant_ids), limits,
            default_level=plan.ordinal,
        )  # fmt: skip
    if with_promotions:
        seed_promotions(session, mall.id)
    return mall


# (tenant, title, body, category, trigger, windows, audience segments, zh-CN title)
_EVENINGS = [{"days": ["weekdays"], "start": "17:00", "end": "21:30"}]
_WEEKEND = [{"days": ["weekend"], "start": "10:00", "end": "21:30"}]
_LUNCH = [{"days": ["daily"], "start": "11:00", "end": "14:00"}]
PROMOTIONS: tuple[tuple[str, str, str, str, str, list[dict[str, Any]], list[str], str], ...] = (
    ("STARBUCKS COFFEE", "Second latte half price", "Show this at the counter tonight.",
     "cafe", "enter", _EVENINGS, [], "第二杯拿铁半价"),
    ("STARBUCKS COFFEE", "Welcome back: free upsize", "It has been a while. Any size, on us.",
     "cafe", "enter", [], ["lapsed"], "欢迎回来:免费升杯"),
    ("STARBUCKS COFFEE", "Stay a little longer", "A pastry with any drink, for the next hour.",
     "cafe", "dwell", _WEEKEND, [], "再坐一会儿:点饮品送糕点"),
    ("adidas", "10% off running shoes", "This weekend, on every running shoe.", "sportswear",
     "enter", _WEEKEND, [], "跑鞋九折"),
    ("adidas", "Members' evening", "Double points tonight for regulars.", "sportswear",
     "enter", _EVENINGS, ["frequent"], "会员之夜:双倍积分"),
    ("Levi's", "Jeans fitting, 20% off", "Second pair 20% off after a fitting.", "fashion",
     "dwell", [], [], "第二条牛仔裤八折"),
    ("MLB", "New caps are in", "The autumn collection just arrived.", "fashion", "enter", [],
     ["new"], "新款棒球帽到店"),
    ("MLB", "Last chance: 30% off", "End of season, today only.", "fashion", "exit", _WEEKEND,
     [], "换季最后一天:七折"),
    ("CALVIN KLEIN JEANS", "Denim week", "15% off all denim.", "fashion", "enter", [], [],
     "牛仔周:八五折"),
    ("Five Plus", "Two tops, one price", "Mix and match today.", "fashion", "enter", _WEEKEND,
     [], "上衣买一送一"),
    ("Five Plus", "We missed you", "A gift with any purchase this week.", "fashion", "enter", [],
     ["lapsed"], "好久不见:购物送礼"),
    ("POLO SPORT", "Polo shirts from 199", "Classic polos, new colours.", "sportswear", "enter",
     [], [], "Polo衫199元起"),
    ("mothercare", "Baby essentials -15%", "Everything for the first year.", "kids", "enter",
     [], [], "婴儿用品八五折"),
    ("mothercare", "Weekend family gift", "A toy with purchases over 300.", "kids", "dwell",
     _WEEKEND, [], "周末家庭礼"),
    ("adidas KIDS", "Back to school", "Kids' trainers 20% off.", "kids", "enter", _EVENINGS, [],
     "开学季:童鞋八折"),
    ("EYES MARK", "Free eye test", "Ten minutes, no appointment.", "optical", "enter", [], [],
     "免费验光"),
    ("EYES MARK", "Sunglasses second pair", "Second pair half price.", "optical", "dwell",
     _WEEKEND, [], "太阳镜第二副半价"),
    ("Pizza Hut", "Lunch set 39", "Pizza, salad and a drink.", "restaurant", "enter", _LUNCH, [],
     "午市套餐39元"),
    ("Pizza Hut", "Family dinner for four", "Weekends from 17:00.", "restaurant", "enter",
     [{"days": ["weekend"], "start": "17:00", "end": "21:00"}], [], "周末四人家庭餐"),
    ("Pizza Hut", "First visit? Dessert on us", "A dessert with any main.", "restaurant", "enter",
     [], ["new"], "首次光临送甜品"),
    ("Niuyan Hotpot", "Hotpot night: drinks free", "Free soft drinks after 18:00.",
     "restaurant", "enter", _EVENINGS, [], "火锅夜:饮料免费"),
    ("Niuyan Hotpot", "Regulars' dish", "A free side dish for our regulars.", "restaurant",
     "enter", [], ["frequent"], "老顾客送小菜"),
)  # fmt: skip


def seed_promotions(session: Session, mall_id: int) -> int:
    """The demo's promotions, approved; one already there (same tenant and title) is kept."""
    tenants = {t.name: t for t in tenant_service.list_tenants(session, mall_id)}
    created = 0
    for name, title, body, category, trigger, windows, segments, title_zh in PROMOTIONS:
        tenant = tenants.get(name)
        if tenant is None or not _fresh(session, mall_id, tenant.id, title):
            continue
        zone_ids = list(
            session.scalars(
                select(Zone.id).where(Zone.mall_id == mall_id, Zone.tenant_id == tenant.id)
            )
        )
        if not zone_ids:
            continue
        data = PromotionCreate.model_validate({
            "title": title, "body": body, "category": category, "trigger": trigger,
            "targets": {"zones": zone_ids}, "schedule": {"windows": windows},
            "audience": {"segments": segments},
            "translations": {"zh-CN": {"title": title_zh, "body": body}},
        })  # fmt: skip
        facts = zones.zone_facts(session, mall_id, zone_ids)
        promotion = catalog.create_promotion(session, mall_id=mall_id, tenant_id=tenant.id,
                                             data=data, zones=facts)  # fmt: skip
        catalog.submit(session, promotion)
        catalog.approve(session, promotion)
        created += 1
    return created


def _fresh(session: Session, mall_id: int, tenant_id: int, title: str) -> bool:
    existing = catalog.list_promotions(session, mall_id=mall_id, tenant_id=tenant_id)
    return all(p.title != title for p in existing)


@dataclass(frozen=True)
class SignIn:
    who: str
    email: str
    password: str


@dataclass(frozen=True)
class DemoMall:
    mall_id: int
    name: str
    operator_key: str
    key_file: Path
    sign_ins: tuple[SignIn, ...] = ()


def seed_with_operator_key(settings: Settings, database: Database) -> DemoMall:
    """Seed the demo mall (idempotent) with its promotions, and an operator key kept in
    MALLCAST_HOME so that it stays the same from one run to the next."""
    key_file = settings.home / "operator.key"
    with database.sessions() as session:
        mall = seed_demo(session, geometry_limits(settings), with_promotions=True)
        key = key_file.read_text().strip() if key_file.exists() else ""
        if not key or verify_key(session, key) is None:
            key = create_key(session, role="operator", label="demo").plaintext
            settings.home.mkdir(parents=True, exist_ok=True)
            key_file.write_text(key + "\n")
            key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
        sign_ins = _console_accounts(session, settings.home, mall.id)
        session.commit()
    return DemoMall(mall.id, mall.name, key, key_file, sign_ins)


def _console_accounts(session: Session, home: Path, mall_id: int) -> tuple[SignIn, ...]:
    """The demo's console accounts: the mall's operator and Starbucks' staff, with passwords
    made once and kept in MALLCAST_HOME (a demo has no mail server to send links with)."""
    kept = home / "console-passwords.json"
    passwords: dict[str, str] = json.loads(kept.read_text()) if kept.exists() else {}
    starbucks = next(t for t in tenant_service.list_tenants(session, mall_id)
                     if t.name == TENANTS[0].name)  # fmt: skip
    wanted = (
        SignIn("operator", "operator@demo.mallcast", ""),
        SignIn(f"{starbucks.name} staff", "starbucks@demo.mallcast", ""),
    )
    sign_ins = []
    for wish in wanted:
        password = passwords.get(wish.email) or secrets.token_urlsafe(12)
        tenant = starbucks.id if wish.who != "operator" else None
        ensure_user(session, email=wish.email, password=password,
                    role="tenant" if tenant else "operator", tenant_id=tenant)  # fmt: skip
        passwords[wish.email] = password
        sign_ins.append(SignIn(wish.who, wish.email, password))
    home.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(passwords, indent=1) + "\n")
    kept.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return tuple(sign_ins)
