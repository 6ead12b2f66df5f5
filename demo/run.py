"""`mallcast demo`: the service, the local FCM server and simulated shoppers in one process,
shown live in the terminal, with an operator's summary at the end."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from fastapi import FastAPI
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from demo.loyalty import seed_purchases
from demo.seed import MALL_NAME, TIMEZONE, DemoMall, seed_with_operator_key
from demo.simulator import Simulation
from runtime.lifecycle import Parts, Runtime
from runtime.push import PushRuntime

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
    decisions: dict[str, int] = field(default_factory=lambda: {"sent": 0, "holdout": 0, "none": 0})


def evening_start(minutes: float, now: float, *, horizon_s: float = 86_400) -> float:
    """The simulation's start: an evening in the mall (17:30-20:00 local), early enough that
    every simulated ping is in the past when it is sent, and, for runs of up to a few hours,
    late enough that the first pings are still within the ping horizon."""
    latest = datetime.fromtimestamp(now - minutes * 60, ZoneInfo(TIMEZONE))
    evening = latest.replace(hour=17, minute=30, second=0, microsecond=0)
    close = latest.replace(hour=20, minute=0, second=0, microsecond=0)
    if evening <= latest <= close:
        return latest.timestamp()
    if latest < evening:
        close -= timedelta(days=1)
    return min(latest.timestamp(), max(close.timestamp(), now - horizon_s + 600))


@dataclass
class SimClock:
    """The demo's time: `speedup` times faster than the wall clock from `start` until `end`.

    While the simulation runs, the scheduled jobs (presence timeouts above all) and the promotion
    decisions run on it: the simulated pings are hours old in wall-clock time, and would all be
    too late for an offer. Afterwards both follow the wall clock.
    """

    start: float
    end: float
    speedup: float
    now: float = 0.0
    running: bool = True

    def __post_init__(self) -> None:
        self.now = self.start

    def advance(self, elapsed_s: float) -> float:
        self.now = max(self.now, min(self.end, self.start + elapsed_s * self.speedup))
        return self.now

    def time(self) -> float:
        return self.now if self.running else time.time()


def run_demo(
    settings: Settings,
    *,
    shoppers: int,
    minutes: float,
    speedup: float,
    console: Console,
    keep_serving: bool = False,
    on_ready: Callable[[DemoMall], None] = lambda _: None,
) -> dict[str, Any]:
    """Serve the API while simulated shoppers walk the demo mall (seeded first) for `minutes`,
    then print the operator's summary and return it; with `keep_serving`, go on serving the API
    with what the simulation left until Ctrl-C."""
    settings = settings.model_copy(update={"ping_horizon_s": 3 * 86_400})  # the sim is past
    start = evening_start(minutes, time.time(), horizon_s=settings.ping_horizon_s)
    clock = SimClock(start, start + minutes * 60, speedup)
    seeded: list[DemoMall] = []

    def prepare(database: Database) -> None:
        seeded.append(seed_with_operator_key(settings, database))
        seed_purchases(database, seeded[0].mall_id)  # before the jobs: members placed at start
        on_ready(seeded[0])

    parts = Parts(scheduler=True, dispatcher=True, clock=clock.time)
    with Runtime(settings, parts, prepare=prepare) as running:
        assert running.pushes is not None  # parts.dispatcher
        return _serve_and_simulate(
            settings,
            running.app,
            running.pushes,
            running.database,
            seeded[0],
            clock,
            shoppers=shoppers,
            minutes=minutes,
            speedup=speedup,
            console=console,
            keep_serving=keep_serving,
        )


def _serve_and_simulate(
    settings: Settings,
    app: FastAPI,
    pushes: PushRuntime,
    database: Database,
    mall: DemoMall,
    clock: SimClock,
    *,
    shoppers: int,
    minutes: float,
    speedup: float,
    console: Console,
    keep_serving: bool,
) -> dict[str, Any]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the API could not listen on {settings.host}:{settings.port}")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{settings.port}"
    console.print(
        f"[bold]mallcast demo[/]: {MALL_NAME}, {shoppers} shoppers, {minutes:g} "
        f"simulated minutes at {speedup:g}x; API on {base} (Ctrl-C stops)",
        highlight=False,
    )
    feed = Feed()
    summary: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            try:
                _simulate(
                    client,
                    pushes,
                    feed,
                    clock,
                    shoppers=shoppers,
                    console=console,
                    batch_max=settings.ping_batch_max,
                )
            except KeyboardInterrupt:
                keep_serving = False
                console.print("stopped: the summary so far")
            clock.running = False
            summary = client.get(
                f"/v1/malls/{mall.mall_id}/analytics",
                headers={"Authorization": f"Bearer {mall.operator_key}"},
            ).json()
        summary["zones"] = _top_zones(database, mall.mall_id)
        _print_summary(console, summary, feed)
        if keep_serving:
            console.print(
                f"The API goes on serving on {base} with the simulated evening in it "
                f"(operator key in {mall.key_file}); Ctrl-C stops.",
                highlight=False,
            )
            print_sign_ins(console, mall, base)
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return summary


def _simulate(
    client: httpx.Client,
    pushes: PushRuntime,
    feed: Feed,
    clock: SimClock,
    *,
    shoppers: int,
    console: Console,
    batch_max: int,
) -> None:
    rng = random.Random(11)  # noqa: S311  # a simulation, not secrets
    headers = []
    for i in range(shoppers):
        body = {
            "platform": rng.choice(["android", "ios"]),
            "app_version": "demo",
            "locale": rng.choice(["zh-CN", "en"]),
            "fcm_token": f"sim-{i}",
            "consents": {"location": True, "marketing_push": rng.random() < 0.9},
            "interests": rng.sample(_CATEGORIES, 2),
        }
        token = client.post("/v1/devices", json=body).json()["token"]
        headers.append({"Authorization": f"Bearer {token}"})
    sim = Simulation(shoppers, start=clock.start, seed=rng.randrange(1000), returning=True)
    began, seen_pushes = time.monotonic(), 0
    with Live(_view(feed, clock), console=console, refresh_per_second=4) as live:
        while clock.now < clock.end:
            batches: dict[int, list[dict[str, Any]]] = {}
            for index, ping in sim.advance(clock.advance(time.monotonic() - began)):
                batches.setdefault(index, []).append(ping)
            for index, pings in batches.items():
                # A slow start (a loaded machine) can leave minutes of pings to catch up on:
                # batches of at most the server's limit, or all of them would be refused.
                for at in range(0, len(pings), batch_max):
                    batch = {"pings": pings[at : at + batch_max]}
                    answer = client.post("/v1/pings", json=batch, headers=headers[index])
                    if answer.status_code != 200:
                        continue
                    feed.pings += len(batch["pings"])
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
            live.update(_view(feed, clock))
            time.sleep(0.2)


def _note_events(
    client: httpx.Client,
    feed: Feed,
    answer: dict[str, Any],
    headers: dict[str, str],
    rng: random.Random,
    index: int,
) -> None:
    for event in answer["events"]:
        feed.events_total += 1
        decision = event.get("decision") or {}
        outcome = decision.get("outcome", "none")
        feed.decisions[outcome] = feed.decisions.get(outcome, 0) + 1
        if event["subject"] == "zone" and event["zone_kind"] in ("service", "vacant"):
            continue  # walking past back-of-house areas: not worth a line
        if outcome == "none":
            why = decision.get("reason", "")
        else:
            why = f"{outcome}: {decision.get('title', '')}"
        at = datetime.fromisoformat(event["at"]).astimezone(ZoneInfo(TIMEZONE))
        feed.events.appendleft((at.strftime("%a %H:%M"), f"shopper {index}", what(event), why))
        promotion = decision.get("promotion_id")
        if promotion and outcome in ("sent", "holdout"):
            chance = P_REDEEM_PUSHED if outcome == "sent" else P_REDEEM_ANYWAY
            if rng.random() < chance:
                client.post(f"/v1/offers/{promotion}/redeemed", headers=headers)


def what(event: dict[str, Any]) -> str:
    """An event as the live view shows it: a store's enter says how sure, and on how much."""
    place = "the mall" if event["subject"] == "mall" else (event["zone_name"] or "?")
    line = f"{event['kind']} {place}"
    confidence = event.get("confidence")
    if confidence is not None:
        line += f" ({confidence:.0%} sure, {event.get('evidence_fixes')} fixes)"
    return line


def _view(feed: Feed, clock: SimClock) -> Group:
    at = datetime.fromtimestamp(clock.now, ZoneInfo(TIMEZONE)).strftime("%a %H:%M:%S")
    if clock.end == float("inf"):
        bar = "live" if clock.now >= time.time() - 5 else "catching up with the wall clock"
    else:
        done = (clock.now - clock.start) / max(1.0, clock.end - clock.start)
        bar = "█" * int(done * 30) + "░" * (30 - int(done * 30)) + f" {done:4.0%}"
    header = (
        f"[bold]{at}[/] (mall time)  {bar}   pings {feed.pings:,}   "
        f"events {feed.events_total:,}   pushes {feed.decisions['sent']:,}   "
        f"held out {feed.decisions['holdout']:,}"
    )
    events = Table(expand=True, show_edge=False)
    for column in ("when", "who", "what", "decision"):
        events.add_column(column)
    for row in feed.events:
        events.add_row(*row)
    phones = Table.grid(expand=True)
    for device, title, body in feed.phones:
        phones.add_row(Panel(f"[bold]{title}[/]\n{body}", title=f"📱 {device}", width=60))
    return Group(
        header,
        Panel(events, title="zone events and decisions"),
        Panel(phones, title="notifications, as the phones show them"),
    )


def _top_zones(database: Database, mall_id: int) -> list[dict[str, Any]]:
    with database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT z.name, count(*) FILTER (WHERE e.kind = 'enter') AS visits, "
                "avg(e.dwell_s) FILTER (WHERE e.kind = 'exit') AS dwell_s "
                "FROM zone_events e JOIN zones z ON z.id = e.zone_id "
                "WHERE e.mall_id = :m AND z.kind IN ('store', 'restaurant') "
                "GROUP BY z.name ORDER BY visits DESC LIMIT 8"
            ),
            {"m": mall_id},
        ).all()
    # A zone whose shoppers are all still in it has no dwell yet: none, not 0 s.
    return [
        {
            "zone": name,
            "visits": visits,
            "mean_dwell_s": None if dwell is None else round(float(dwell), 1),
        }
        for name, visits, dwell in rows
    ]


def print_sign_ins(console: Console, mall: DemoMall, base: str) -> None:
    """The console's address and the demo's accounts, as a person signs in with them."""
    if not mall.sign_ins:
        return
    console.print(f"console: [bold]{base}/console/[/]  sign in as", highlight=False)
    for sign_in in mall.sign_ins:
        console.print(
            f"  {sign_in.who}: {sign_in.email}  password {sign_in.password}", highlight=False
        )


def _print_summary(console: Console, summary: dict[str, Any], feed: Feed) -> None:
    total = summary.get("total", {})
    lift = total.get("lift", {})
    console.print()  # the live view's last frame may end mid-line (a log file, a pipe)
    table = Table(title="operator's summary", show_header=False)
    rows = [
        ("pings processed", f"{feed.pings:,}"),
        ("pushes sent / delivered", f"{total.get('sent', 0)} / {total.get('delivered', 0)}"),
        (
            "pushes per shopper per day (max / mean)",
            f"{total.get('pushes_per_shopper_day_max', 0)} / "
            f"{total.get('pushes_per_shopper_day_mean', 0)}",
        ),
        ("opened", str(total.get("opened", 0))),
        ("held out (no push, measured)", str(total.get("held_out", 0))),
        (
            "conversion: pushed / held out",
            f"{_pct(lift.get('treated_rate'))} / {_pct(lift.get('holdout_rate'))}",
        ),
        (
            "lift (95% interval)",
            f"{_pct(lift.get('lift'))} ({_pct(lift.get('ci_low'))} .. {_pct(lift.get('ci_high'))})",
        ),
        ("true lift in the simulation", _pct(P_REDEEM_PUSHED - P_REDEEM_ANYWAY)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    zones = Table(title="top zones by footfall")
    for column in ("zone", "visits", "mean dwell (s)"):
        zones.add_column(column)
    for zone in summary.get("zones", []):
        dwell = zone["mean_dwell_s"]
        zones.add_row(
            zone["zone"], str(zone["visits"]), "still in it" if dwell is None else str(dwell)
        )
    console.print(zones)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
