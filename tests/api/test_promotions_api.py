"""Promotions end to end: tenants submit, operators approve, shoppers walk in, decisions follow."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.db import Database
from core.settings import Settings
from promotions.models import Decision
from tests.support.api import (
    approved_promotion,
    error_of,
    evening_now,
    local_instant,
    ping,
    register,
    shopper,
    starbucks,
    states,
    stay,
    walk_in,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_walk_uploaded_late_is_answered_without_a_push(
    db: Database, settings: Settings, mall: dict[str, Any]
) -> None:
    """On the wall clock, as served: the walk at a past evening (20 minutes to a day ago) that
    the other tests decide at its own instants is too late for an offer now."""
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as served:
        zone_id, lon, lat = starbucks(db, mall["id"])
        approved_promotion(served, mall, zone_id)
        events = walk_in(served, shopper(served), lon, lat, evening_now())
    enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
    assert (enter["decision"]["outcome"], enter["decision"]["reason"]) == ("none", "late_event")
    assert states(db) == Counter()


def test_submit_approve_walk_in_and_the_decision_names_it(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    events = walk_in(client, shopper(client), lon, lat, evening_now())
    enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
    decision = enter["decision"]
    assert (decision["outcome"], decision["promotion_id"]) in {
        ("sent", promotion["id"]),
        ("holdout", promotion["id"]),
    }
    if decision["outcome"] == "sent":
        assert len(decision["code"]) == 8
    mall_enter = next(e for e in events if e["subject"] == "mall")
    assert mall_enter["decision"]["outcome"] == "none"  # the promotion targets the store only


def test_walking_through_the_store_fires_nothing_standing_in_it_does(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    headers = shopper(client)
    at = evening_now()
    # Straight through the store at walking speed, a fix every 4 s, out 15 m the other side.
    through = [ping(at + 4 * i, lon + (i - 5) * 3 / 96_000, lat) for i in range(11)]
    passed = client.post("/v1/pings", headers=headers, json={"pings": through}).json()
    assert [e["zone_id"] for e in passed["events"] if e["subject"] == "zone"] == []
    assert all(e["decision"]["outcome"] == "none" for e in passed["events"])
    # Standing in it: one confirmed enter, and the promotion is decided on it.
    stood = client.post("/v1/pings", headers=headers,
                        json={"pings": stay(lon, lat, at + 120)}).json()  # fmt: skip
    [enter] = [e for e in stood["events"] if e["zone_id"] == zone_id]
    assert enter["confidence"] >= 0.9
    assert enter["decision"]["outcome"] in ("sent", "holdout")


def test_a_submission_that_would_not_fit_fcm_is_refused(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    body = {
        "title": "Big",
        "body": "x" * 1900,
        "category": "cafe",
        "targets": {"zones": [zone_id]},
        "translations": {"zh-CN": {"title": "大", "body": "咖" * 1500}},
    }
    created = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"]).json()
    refused = client.post(
        f"/v1/tenant/promotions/{created['id']}/submit", headers=mall["starbucks"]
    )
    error = error_of(refused, 422)
    assert error["code"] == "payload_too_large_for_fcm"
    assert error["details"]["locale"] == "zh-CN"
    assert error["details"]["bytes"] > 4096


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"title": "   "}, "body.title", "only spaces"),
        ({"body": "\n\t"}, "body.body", "only spaces"),
        ({"translations": {"de": {"title": " ", "body": "b"}}}, "body.translations.de.title",
         "only spaces"),
        ({"deep_link": "javascript:alert(document.cookie)"}, "body.deep_link", "javascript:"),
        ({"deep_link": "DATA:text/html,<script>"}, "body.deep_link", "data:"),
        ({"deep_link": "/offers/7"}, "body.deep_link", "absolute URI"),
        ({"image_url": "http://cdn.example/coffee.jpg"}, "body.image_url", "https"),
    ],
)  # fmt: skip
def test_what_a_phone_would_show_or_open_badly_is_refused(
    client: TestClient, db: Database, mall: dict[str, Any], change: dict[str, Any], field: str,
    says: str,
) -> None:  # fmt: skip
    zone_id, _, _ = starbucks(db, mall["id"])
    good = {"title": "Two coffees", "body": "Tonight", "category": "cafe",
            "targets": {"zones": [zone_id]}}  # fmt: skip
    error = error_of(client.post("/v1/tenant/promotions", json=good | change,
                                 headers=mall["starbucks"]), 422)  # fmt: skip
    [problem] = error["details"]["fields"]
    assert problem["field"] == field
    assert says in problem["message"]
    # Changing a draft to it is refused alike; a link into the app and an HTTPS image are fine.
    fine = {"deep_link": "mallapp://offer/7", "image_url": "https://cdn.example/coffee.jpg"}
    draft = client.post("/v1/tenant/promotions", json=good | fine, headers=mall["starbucks"])
    assert draft.status_code == 201, draft.text
    patched = client.patch(f"/v1/tenant/promotions/{draft.json()['id']}", json=change,
                           headers=mall["starbucks"])  # fmt: skip
    assert error_of(patched, 422)["details"]["fields"][0]["field"] == field


def test_tenants_see_only_their_own(client: TestClient, db: Database, mall: dict[str, Any]) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    walk_in(client, shopper(client), lon, lat, evening_now())
    url = f"/v1/tenant/promotions/{promotion['id']}"
    for method in ("GET", "PATCH"):
        response = client.request(method, url, headers=mall["adidas"], json={})
        assert error_of(response, 404)["code"] == "promotion_not_found"
    assert error_of(client.post(f"{url}/pause", headers=mall["adidas"]), 404)
    assert client.get("/v1/tenant/promotions", headers=mall["adidas"]).json() == []
    theirs = client.get("/v1/tenant/results", headers=mall["adidas"]).json()
    assert theirs["promotions"] == []
    assert theirs["total"]["sent"] + theirs["total"]["held_out"] == 0
    ours = client.get("/v1/tenant/results", headers=mall["starbucks"]).json()
    assert ours["total"]["sent"] + ours["total"]["held_out"] == 1
    # Another tenant's store is not a target either.
    adidas_zone = next(
        z
        for z in client.get(
            f"/v1/malls/{mall['id']}/zones", params={"level": 0}, headers=mall["operator"]
        ).json()["features"]
        if z["properties"]["name"] == "adidas"
    )
    body = {
        "title": "t",
        "body": "b",
        "category": "cafe",
        "targets": {"zones": [adidas_zone["id"]]},
    }
    error = error_of(
        client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"]), 422
    )
    assert error["code"] == "zone_not_targetable"


def test_rejected_and_paused_promotions_never_fire(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    body = {"title": "No", "body": "b", "category": "cafe", "targets": {"zones": [zone_id]}}
    rejected = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"]).json()
    client.post(f"/v1/tenant/promotions/{rejected['id']}/submit", headers=mall["starbucks"])
    answer = client.post(
        f"/v1/malls/{mall['id']}/promotions/{rejected['id']}/reject",
        json={"reason": "Misleading"},
        headers=mall["operator"],
    ).json()
    assert (answer["status"], answer["rejection_reason"]) == ("rejected", "Misleading")
    paused = approved_promotion(client, mall, zone_id, title="Paused")
    client.post(f"/v1/tenant/promotions/{paused['id']}/pause", headers=mall["starbucks"])

    for i in range(5):
        events = walk_in(client, shopper(client), lon, lat, evening_now() + 300 * i)
        assert all(e["decision"]["outcome"] == "none" for e in events)
    with db.sessions() as session:
        fired = session.scalars(select(Decision).where(Decision.promotion_id.is_not(None))).all()
    assert fired == []


def test_a_promotion_paused_after_it_fired_fires_no_more(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    # The engine keeps each mall's offers between batches: a change must reach it at once.
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)

    def enter_outcome(at: float) -> str:
        events = walk_in(client, shopper(client), lon, lat, at)
        enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
        return str(enter["decision"]["outcome"])

    assert enter_outcome(evening_now()) in {"sent", "holdout"}
    paused = client.post(f"/v1/tenant/promotions/{promotion['id']}/pause",
                         headers=mall["starbucks"])  # fmt: skip
    assert paused.status_code == 200, paused.text
    assert enter_outcome(evening_now() + 300) == "none"
    resumed = client.post(f"/v1/tenant/promotions/{promotion['id']}/resume",
                          headers=mall["starbucks"])  # fmt: skip
    assert resumed.status_code == 200, resumed.text
    assert enter_outcome(evening_now() + 600) in {"sent", "holdout"}


def test_no_marketing_consent_no_push_but_footfall_counts(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    events = walk_in(client, shopper(client, marketing_push=False), lon, lat, evening_now())
    assert {e["kind"] for e in events} == {"enter", "exit"}  # presence still counts
    enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
    assert enter["decision"] == enter["decision"] | {
        "outcome": "none",
        "reason": "no_marketing_consent",
    }


def test_caps_and_quiet_hours_hold_across_a_day_of_walking(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    for n in range(4):  # more offers than the mall lets one shopper receive in a day
        approved_promotion(
            client, mall, zone_id, title=f"Offer {n}", limits={"per_shopper_per_day": 10}
        )
    headers = shopper(client)
    start = time.time() - 23 * 3600  # within the 24 h ping horizon
    for step in range(23 * 4):  # in and out of the store every 15 minutes for 23 hours
        walk_in(client, headers, lon, lat, start + step * 900)

    with db.sessions() as session:
        sends = session.scalars(
            select(Decision.at).where(Decision.outcome == "sent").order_by(Decision.at)
        ).all()
    assert sends, "some pushes must go out in the evening and daytime"
    local = [at.astimezone(SHANGHAI) for at in sends]
    assert max(Counter(t.date() for t in local).values()) <= 3  # at most 3 a (local) day
    assert all(9 <= t.hour < 22 for t in local)  # never in quiet hours (22:00-09:00)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert all(gap >= timedelta(minutes=30) for gap in gaps)
    analytics = client.get(f"/v1/malls/{mall['id']}/analytics", headers=mall["operator"]).json()
    assert analytics["total"]["pushes_per_shopper_day_max"] <= 3
    assert analytics["total"]["sent"] == len(sends)


def test_mall_wide_limits_count_every_shoppers_pushes(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    rules.pop("mall_id")
    put = client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
                     json=rules | {"holdout_share": 0.0, "tenant_daily_cap": 3})  # fmt: skip
    assert put.status_code == 200, put.text
    zone_id, lon, lat = starbucks(db, mall["id"])
    budget = approved_promotion(client, mall, zone_id, title="Budget", limits={"budget_pushes": 2})
    at = evening_now()

    def enter(i: int) -> tuple[str, int | None]:
        events = walk_in(client, shopper(client), lon, lat, at + 60 * i)
        decision = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
        return decision["decision"]["outcome"], decision["decision"]["promotion_id"]

    # Each shopper is new: only what the others were sent can stop the next push.
    assert [enter(i) for i in range(3)] == [("sent", budget["id"])] * 2 + [("none", None)]
    daily = approved_promotion(client, mall, zone_id, title="Daily")
    assert enter(3) == ("sent", daily["id"])  # the store's third push today
    assert enter(4) == ("none", None)  # its daily cap of three


def test_a_mall_may_ask_more_confidence_of_a_store_enter_before_an_offer(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    assert rules.pop("min_confidence") == 0.9  # every enter occupancy inference makes
    rules = {k: v for k, v in rules.items() if k != "mall_id"} | {"holdout_share": 0.0}
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"], json=rules)
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    at = evening_now()

    def enter(i: int) -> dict[str, Any]:
        events = walk_in(client, shopper(client), lon, lat, at + 60 * i)
        return next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)

    sure = enter(0)
    assert sure["decision"]["outcome"] == "sent"
    put = client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
                     json=rules | {"min_confidence": 1.0})  # fmt: skip
    assert put.status_code == 200, put.text
    unsure = enter(1)
    assert unsure["confidence"] < 1.0
    assert (unsure["decision"]["outcome"], unsure["decision"]["reason"]) == (
        "none", "low_confidence",
    )  # fmt: skip
    bad = client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
                     json=rules | {"min_confidence": 1.5})  # fmt: skip
    assert error_of(bad, 422)["details"]["fields"][0]["field"] == "body.min_confidence"


def test_operator_can_ask_why(client: TestClient, db: Database, mall: dict[str, Any]) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    device_id, headers = register(client, location=True, marketing_push=True)
    walk_in(client, headers, lon, lat, local_instant(3))  # 3 a.m.: quiet hours
    why = client.get(
        f"/v1/malls/{mall['id']}/decisions",
        headers=mall["operator"],
        params={"device_id": device_id, "promotion_id": promotion["id"]},
    ).json()
    store_enter = [
        d
        for d in why
        if d["for_promotion"].get("dropped_because") != ["not_a_candidate"]
        and not d["for_promotion"]["chosen"]
    ]
    assert any("mall_quiet_hours" in d["for_promotion"]["dropped_because"] for d in store_enter)


def test_redemptions_are_attributed_and_measured(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    rules.pop("mall_id")
    put = client.put(
        f"/v1/malls/{mall['id']}/rules",
        headers=mall["operator"],
        json=rules | {"holdout_share": 0.5},
    )
    assert put.status_code == 200, put.text
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    outcomes: list[tuple[dict[str, str], dict[str, Any]]] = []
    for i in range(30):
        headers = shopper(client)
        events = walk_in(client, headers, lon, lat, evening_now() + 20 * i)
        decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
        outcomes.append((headers, decision))
    sent = [(h, d) for h, d in outcomes if d["outcome"] == "sent"]
    held = [(h, d) for h, d in outcomes if d["outcome"] == "holdout"]
    assert sent
    assert held  # a 50% holdout of 30 shoppers

    # Half the treated redeem in the app, one at the till with its code; one held-out redeems.
    url = f"/v1/offers/{promotion['id']}"
    for headers, _ in sent[: len(sent) // 2]:
        assert client.post(f"{url}/opened", headers=headers).status_code == 200
        answer = client.post(f"{url}/redeemed", headers=headers).json()
        assert answer["decision_id"] is not None
        again = client.post(f"{url}/redeemed", headers=headers).json()
        assert again == answer  # idempotent
    at_till = sent[-1][1]["code"]
    till = client.post(
        "/v1/tenant/redemptions", json={"code": at_till.lower()}, headers=mall["starbucks"]
    )
    assert till.status_code == 201, till.text
    twice = client.post("/v1/tenant/redemptions", json={"code": at_till}, headers=mall["starbucks"])
    assert error_of(twice, 409)["code"] == "already_redeemed"
    not_theirs = client.post(
        "/v1/tenant/redemptions", json={"code": at_till}, headers=mall["adidas"]
    )
    assert error_of(not_theirs, 404)["code"] == "code_not_found"
    client.post(f"{url}/redeemed", headers=held[0][0])
    # A push never opened cannot be opened by someone who never got it.
    assert error_of(client.post(f"{url}/opened", headers=held[0][0]), 404)["code"] == (
        "offer_not_found"
    )

    row = client.get(f"/v1/malls/{mall['id']}/analytics", headers=mall["operator"]).json()[
        "promotions"
    ][0]
    treated_conversions = len(sent) // 2 + (1 if len(sent) // 2 < len(sent) else 0)
    assert (row["treated"], row["holdout"]) == (len(sent), len(held))
    assert row["eligible_shoppers"] == 30
    assert row["opened"] == len(sent) // 2
    assert (row["treated_conversions"], row["holdout_conversions"]) == (treated_conversions, 1)
    lift = row["lift"]
    assert lift["treated_rate"] == pytest.approx(treated_conversions / len(sent), abs=1e-6)
    assert lift["holdout_rate"] == pytest.approx(1 / len(held), abs=1e-6)
    assert lift["ci_low"] <= lift["lift"] <= lift["ci_high"]


def test_the_shoppers_own_quiet_hours_and_language(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    rules.pop("mall_id")
    client.put(
        f"/v1/malls/{mall['id']}/rules",
        headers=mall["operator"],
        json=rules | {"holdout_share": 0.0},
    )
    approved_promotion(
        client, mall, zone_id, translations={"zh-CN": {"title": "第二杯半价", "body": "今晚有效"}}
    )
    quiet = shopper(client)
    patched = client.patch(
        "/v1/devices/me",
        headers=quiet,
        json={"quiet_hours": {"start": "18:00", "end": "21:00"}, "loyalty_tier": "gold"},
    )
    assert patched.json()["quiet_hours"] == {"start": "18:00", "end": "21:00"}
    events = walk_in(client, quiet, lon, lat, evening_now())
    decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
    assert (decision["outcome"], decision["reason"]) == ("none", "shopper_quiet_hours")

    chinese = shopper(client)  # registered with locale zh-CN
    events = walk_in(client, chinese, lon, lat, evening_now())
    decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
    assert decision["outcome"] == "sent"
    assert (decision["title"], decision["body"]) == ("第二杯半价", "今晚有效")


def test_ids_in_query_strings_and_translation_keys_are_checked(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    headers = shopper(client)
    huge = str(2**63)
    opened = client.post("/v1/offers/1/opened", params={"decision_id": huge}, headers=headers)
    assert error_of(opened, 422)["code"] == "validation_error"
    device_id = client.get("/v1/devices/me", headers=headers).json()["device_id"]
    why = client.get(
        f"/v1/malls/{mall['id']}/decisions",
        headers=mall["operator"],
        params={"device_id": device_id, "promotion_id": huge},
    )
    assert error_of(why, 422)["code"] == "validation_error"
    body = {"title": "t", "body": "b", "category": "cafe", "targets": {"zones": [zone_id]}}
    draft = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"]).json()
    bad = client.patch(
        f"/v1/tenant/promotions/{draft['id']}",
        headers=mall["starbucks"],
        json={"translations": {"not a locale": {"title": "x", "body": "y"}}},
    )
    assert error_of(bad, 422)["code"] == "validation_error"


def test_an_operator_decides_on_the_version_they_read(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    shop, desk = mall["starbucks"], mall["operator"]
    body = {"title": "Two coffees, one price", "body": "Tonight only", "category": "cafe",
            "targets": {"zones": [zone_id]}, "trigger": "enter"}  # fmt: skip
    offer = client.post("/v1/tenant/promotions", json=body, headers=shop).json()
    client.post(f"/v1/tenant/promotions/{offer['id']}/submit", headers=shop)
    url = f"/v1/malls/{mall['id']}/promotions/{offer['id']}"
    [read] = client.get(f"/v1/malls/{mall['id']}/promotions?status=submitted", headers=desk).json()
    rejected = client.post(f"{url}/reject", json={"reason": "Say until when"},
                           headers=desk | {"If-Match": f'"{read["version"]}"'})  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    # The store fixes and resubmits; an operator still looking at the first text approves it.
    client.patch(f"/v1/tenant/promotions/{offer['id']}", json={"body": "Until Sunday, 50% off"},
                 headers=shop)  # fmt: skip
    client.post(f"/v1/tenant/promotions/{offer['id']}/submit", headers=shop)
    stale = client.post(f"{url}/approve", headers=desk | {"If-Match": f'"{read["version"]}"'})
    assert error_of(stale, 412)["code"] == "promotion_changed"
    assert client.get(url, headers=desk).json()["status"] == "submitted"
    fresh = client.get(url, headers=desk)
    approved = client.post(f"{url}/approve", headers=desk | {"If-Match": fresh.headers["ETag"]})
    assert approved.status_code == 200, approved.text
    assert approved.json()["version"] != fresh.json()["version"]  # a new version with each change
