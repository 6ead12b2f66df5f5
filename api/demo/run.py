"""`mallcast demo`: the service, the local FCM server and simulated shoppers in one process,
shown live in the terminal, with an operator's summary at the end."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import text

from api.app import create_app
from api.db import Database
from api.demo.seed import MALL_NAME, TIMEZONE, seed_demo
from api.demo.simulator import Simulation
from api.jobs import start_scheduler
from api.keys import create_key
from api.push_runtime import PushRuntime
from api.settings import Settings

_CATEGORIES = ("cafe", "fashion", "sportswear", "kids", "restaurant", "optical")
# What simulated shoppers do with offers: the known truth the lift should recover.
P_OPEN = 0.4
P_REDEEM_PUSHED = 0.25
P_REDEEM_ANYWAY = 0.08


@dataclass
class Feed:
    events: deque[tuple[str, str, str, str]] = field(default_factory=lambda: deque(maxlen=12))
    phones: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=6))
    pings: int = 0
    events_total: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {"sent": 0, "holdout": 0,
                                                                "none": 0})  # fmt: skip


def evening_start(minutes: float, now: float) -> float:
    """The simulation's start: an evening in the mall (after 17:30 local), early enough that
    every simulated ping is in the past when it is sent."""
    local = datetime.fromtimestamp(now - minutes * 60, ZoneInfo(TIMEZONE))
    start = local.replace(hour=17, minute=30, second=0, microsecond=0)
    if start > local:
        start -= timedelta(days=1)
    return start.timestamp()


def run_demo(settings: Settings, database: Database, *, shoppers: int, minutes: float,
             speedup: float, console: Console) -> dict[str, Any]:  # fmt: skip
    settings = settings.model_copy(update={"ping_horizon_s": 3 * 86_400})  # the sim is past
    with database.sessions() as session:
        mall = seed_demo(session, settings.geometry_limits(), with_promotions=True)
        operator = create_key(session, role="operator", label="demo").plaintext
        session.commit()
    app = create_app(settings, database)
    pushes = PushRuntime(settings, database.engine, app.state.metrics).start()
    scheduler = start_scheduler(app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port,
                                           log_level="warning", lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{settings.port}"
    console.print(f"[bold]mallcast demo[/]: {MALL_NAME}, {shoppers} shoppers, {minutes:g} "
                  f"simulated minutes at {speedup:g}x; API on {base} (Ctrl-C stops)")  # fmt: skip
    feed = Feed()
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            _simulate(client, pushes, feed, shoppers=shoppers, minutes=minutes, speedup=speedup,
                      console=console)  # fmt: skip
            summary: dict[str, Any] = client.get(
                f"/v1/malls/{mall.id}/analytics", headers={"Authorization": f"Bearer {operator}"}
            ).json()
        summary["zones"] = _top_zones(database, mall.id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        pushes.stop()
        scheduler.shutdown(wait=False)
    _print_summary(console, summary, feed)
    return summary


def _simulate(client: httpx.Client, pushes: PushRuntime, feed: Feed, *, shoppers: int,
              minutes: float, speedup: float, console: Console) -> None:  # fmt: skip
    rng = random.Random(11)  # noqa: S311  # a simulation, not secrets
    headers = []
    for i in range(shoppers):
        body = {"platform": rng.choice(["android", "ios"]), "app_version": "demo",
                "locale": rng.choice(["zh-CN", "en"]), "fcm_token": f"sim-{i}",
                "consents": {"location": True, "marketing_push": rng.random() < 0.9},
                "interests": rng.sample(_CATEGORIES, 2)}  # fmt: skip
        token = client.post("/v1/devices", json=body).json()["token"]
        headers.append({"Authorization": f"Bearer {token}"})
    now = time.time()
    start = evening_start(minutes, now)
    end = start + minutes * 60
    sim = Simulation(shoppers, start=start, seed=rng.randrange(1000))
    began, seen_pushes = time.monotonic(), 0
    with Live(_view(feed, start, start, end), console=console, refresh_per_second=4) as live:
        while sim.now < end and sim.active:
            target = min(end, start + (time.monotonic() - began) * speedup)
            batches: dict[int, list[dict[str, Any]]] = {}
            for index, ping in sim.advance(target):
                batches.setdefault(index, []).append(ping)
            for index, pings in batches.items():
                answer = client.post("/v1/pings", json={"pings": pings}, headers=headers[index])
                if answer.status_code != 200:
                    continue
                feed.pings += len(pings)
                _note_events(client, feed, answer.json(), headers[index], rng, index)
            accepted = pushes.local.accepted() if pushes.local else []
            for received in accepted[seen_pushes:]:
                note = received.message.get("notification", {})
                device = received.address or "?"
                feed.phones.appendleft((device, note.get("title", ""), note.get("body", "")))
                if rng.random() < P_OPEN:
                    shopper = int(device.removeprefix("sim-")) if device.startswith("sim-") else 0
                    promotion = received.message.get("data", {}).get("promotion_id")
                    client.post(f"/v1/offers/{promotion}/opened", headers=headers[shopper])
            seen_pushes = len(accepted)
            live.update(_view(feed, sim.now, start, end))
            time.sleep(0.2)


def _note_events(client: httpx.Client, feed: Feed, answer: dict[str, Any],
                 headers: dict[str, str], rng: random.Random, index: int) -> None:  # fmt: skip
    for event in answer["events"]:
        feed.events_total += 1
        decision = event.get("decision") or {}
        outcome = decision.get("outcome", "none")
        feed.decisions[outcome] = feed.decisions.get(outcome, 0) + 1
        if event["subject"] == "zone" and event["zone_kind"] in ("service", "vacant"):
            continue  # walking past back-of-house areas: not worth a line
        place = "the mall" if event["subject"] == "mall" else (event["zone_name"] or "?")
        if outcome == "none":
            why = decision.get("reason", "")
        else:
            why = f"{outcome}: {decision.get('title', '')}"
        at = datetime.fromisoformat(event["at"]).astimezone(ZoneInfo(TIMEZONE))
        feed.events.appendleft((at.strftime("%a %H:%M"), f"shopper {index}",
                                f"{event['kind']} {place}", why))  # fmt: skip
        promotion = decision.get("promotion_id")
        if promotion and outcome in ("sent", "holdout"):
            chance = P_REDEEM_PUSHED if outcome == "sent" else P_REDEEM_ANYWAY
            if rng.random() < chance:
                client.post(f"/v1/offers/{promotion}/redeemed", headers=headers)


def _view(feed: Feed, now: float, start: float, end: float) -> Group:
    clock = datetime.fromtimestamp(now, ZoneInfo(TIMEZONE)).strftime("%a %H:%M:%S")
    done = (now - start) / max(1.0, end - start)
    bar = "█" * int(done * 30) + "░" * (30 - int(done * 30))
    header = (f"[bold]{clock}[/] (mall time)  {bar} {done:4.0%}   pings {feed.pings:,}   "
              f"events {feed.events_total:,}   pushes {feed.decisions['sent']:,}   "
              f"held out {feed.decisions['holdout']:,}")  # fmt: skip
    events = Table(expand=True, show_edge=False)
    for column in ("when", "who", "what", "decision"):
        events.add_column(column)
    for row in feed.events:
        events.add_row(*row)
    phones = Table.grid(expand=True)
    for device, title, body in feed.phones:
        phones.add_row(Panel(f"[bold]{title}[/]\n{body}", title=f"📱 {device}", width=60))
    return Group(header, Panel(events, title="zone events and decisions"),
                 Panel(phones, title="notifications, as the phones show them"))  # fmt: skip


def _top_zones(database: Database, mall_id: int) -> list[dict[str, Any]]:
    with database.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT z.name, count(*) FILTER (WHERE e.kind = 'enter') AS visits, "
            "coalesce(avg(e.dwell_s) FILTER (WHERE e.kind = 'exit'), 0) AS dwell_s "
            "FROM zone_events e JOIN zones z ON z.id = e.zone_id "
            "WHERE e.mall_id = :m AND z.kind IN ('store', 'restaurant') "
            "GROUP BY z.name ORDER BY visits DESC LIMIT 8"), {"m": mall_id}).all()  # fmt: skip
    return [{"zone": name, "visits": visits, "mean_dwell_s": round(float(dwell), 1)}
            for name, visits, dwell in rows]  # fmt: skip


def _print_summary(console: Console, summary: dict[str, Any], feed: Feed) -> None:
    total = summary.get("total", {})
    lift = total.get("lift", {})
    table = Table(title="operator's summary", show_header=False)
    rows = [
        ("pings processed", f"{feed.pings:,}"),
        ("pushes sent / delivered", f"{total.get('sent', 0)} / {total.get('delivered', 0)}"),
        ("pushes per shopper per day (max / mean)",
         f"{total.get('pushes_per_shopper_day_max', 0)} / "
         f"{total.get('pushes_per_shopper_day_mean', 0)}"),
        ("opened", str(total.get("opened", 0))),
        ("held out (no push, measured)", str(total.get("held_out", 0))),
        ("conversion: pushed / held out",
         f"{_pct(lift.get('treated_rate'))} / {_pct(lift.get('holdout_rate'))}"),
        ("lift (95% interval)",
         f"{_pct(lift.get('lift'))} ({_pct(lift.get('ci_low'))} .. {_pct(lift.get('ci_high'))})"),
        ("true lift in the simulation", _pct(P_REDEEM_PUSHED - P_REDEEM_ANYWAY)),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    zones = Table(title="top zones by footfall")
    for column in ("zone", "visits", "mean dwell (s)"):
        zones.add_column(column)
    for zone in summary.get("zones", []):
        zones.add_row(zone["zone"], str(zone["visits"]), str(zone["mean_dwell_s"]))
    console.print(zones)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
