"""The console in a real headless Chromium (Debian's, through Playwright), against `mallcast
serve --demo` started from cold as a user starts it: the sign-ins it prints, the pages, the
API behind them. Screenshots of the main pages go to test-artifacts/console/.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import (
    Browser,
    Dialog,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)
from shapely.geometry import shape
from shapely.ops import polylabel

from loyalty.csv_import import COLUMNS
from loyalty.synthetic import draw, receipts
from push.fcm_server import FakeFCM
from runtime.embedded import ClusterState, EmbeddedPostgres
from tests.conftest import private_tmpdir
from tests.support.api import stay
from tests.support.imdf import archive as imdf_archive
from tests.support.imdf import collection as imdf_collection
from tests.support.imdf import feature as imdf_feature
from tests.support.imdf import imdf_id
from tests.support.shipped import Server, run, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
MARKUP = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as server:
        yield server


@pytest.fixture(scope="module")
def server(fcm: FakeFCM) -> Iterator[Server]:
    home = private_tmpdir("mallcast-console-")
    shipped = Server(home, "--demo", fcm_url=fcm.url).start()
    yield shipped
    if shipped.alive():
        shipped.stop()
    cluster = EmbeddedPostgres(home)
    if cluster.status().state is ClusterState.RUNNING:
        cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def sign_ins(server: Server) -> dict[str, tuple[str, str]]:
    """What `serve --demo` printed: the console's address and an account of each role."""
    output = server.output()
    assert f"console: {server.base}/console/" in output, output
    found = re.findall(r"^\s+(.+?): (\S+@\S+)\s+password (\S+)$", output, re.MULTILINE)
    accounts = {("operator" if who == "operator" else "tenant"): (email, password)
                for who, email, password in found}  # fmt: skip
    assert set(accounts) == {"operator", "tenant"}, output
    return accounts


@pytest.fixture(scope="module")
def operator_key(server: Server) -> str:
    return (server.home / "operator.key").read_text().strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def new_page(browser: Browser, *, phone: bool = False) -> Page:
    size = ViewportSize(width=390, height=844) if phone else ViewportSize(width=1366, height=900)
    page = browser.new_context(viewport=size, is_mobile=phone).new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    # Nothing from anywhere but mallcast itself: no CDN, no fonts, no tiles.
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("http://127.0.0.1:", "data:", "about:"))
            else problems.append(f"fetched {request.url}")
        ),
    )
    page.on("dialog", _no_alert)
    page.problems = problems  # type: ignore[attr-defined]
    return page


def _no_alert(dialog: Dialog) -> None:
    if dialog.type == "alert":
        raise AssertionError(f"a page ran an alert: {dialog.message}")
    dialog.accept()  # the console's own confirm() before deleting or ending


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def sign_in(browser: Browser, server: Server, account: tuple[str, str], **kw: Any) -> Page:
    page = new_page(browser, **kw)
    page.goto(f"{server.base}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email").fill(account[0])
    page.get_by_label("Password").fill(account[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header .who")).to_have_text(account[0])
    return page


def api(server: Server, key: str, method: str, path: str, **kwargs: Any) -> Any:
    return server.call(method, path, key=key, **kwargs).json()


def store_point(server: Server, key: str, name: str) -> tuple[int, float, float]:
    zones = api(server, key, "GET", "/v1/malls/1/zones?level=0")["features"]
    zone = min((z for z in zones if z["properties"]["name"] == name), key=lambda z: z["id"])
    deepest = polylabel(shape(zone["geometry"]), tolerance=1e-7)
    return zone["id"], deepest.x, deepest.y


def test_each_role_signs_in_and_a_wrong_password_is_refused(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]]
) -> None:
    page = new_page(browser)
    page.goto(f"{server.base}/console/malls")
    page.get_by_label("Email").fill(sign_ins["operator"][0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    shot(page, "sign-in")

    operator = sign_in(browser, server, sign_ins["operator"])
    expect(operator.get_by_role("heading", name="Your malls")).to_be_visible()
    expect(operator.get_by_role("link", name="Xixi Yintai City (ILC site 1)")).to_be_visible()
    shot(operator, "operator-malls")
    tenant = sign_in(browser, server, sign_ins["tenant"])
    expect(tenant.get_by_role("heading", name="Your offers")).to_be_visible()
    expect(tenant.locator("header .here")).to_have_text("STARBUCKS COFFEE:")


def test_a_new_account_s_one_time_link_sets_its_password_and_signs_in(
    browser: Browser, server: Server
) -> None:
    created = run(server.home, "users", "create", "--email", "Mei@Mall.example", "--role",
                  "tenant", "--tenant", "2", port=str(server.port))  # fmt: skip
    assert created.returncode == 0, created.stderr
    link = created.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{server.base}/console/link#"), created.stdout
    page = new_page(browser)
    page.goto(link)
    page.get_by_label("New password").fill("shortpw")
    page.get_by_label("The same again").fill("shortpw")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator("#password-error")).to_contain_text("at least 10 characters")
    page.get_by_label("New password").fill("a good long password")
    page.get_by_label("The same again").fill("a good long password")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator("header .who")).to_have_text("mei@mall.example")
    expect(page.locator("header .here")).to_have_text("adidas:")
    assert "#" not in page.url  # the spent token is out of the address bar and history
    shot(page, "link-signed-in")
    listed = run(server.home, "users", "list").stdout
    assert re.search(r"mei@mall\.example\s+tenant\s+tenant 2\s+active", listed), listed
    again = new_page(browser)
    again.goto(link)
    again.get_by_label("New password").fill("another long password")
    again.get_by_label("The same again").fill("another long password")
    again.get_by_role("button", name="Set password and sign in").click()
    expect(again.locator("#form-error")).to_contain_text("used or expired")


def test_import_highlights_the_refused_feature_then_imports_the_fixed_plan(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    _, lon, lat = store_point(server, operator_key, "STARBUCKS COFFEE")

    def square(dx: float, dy: float) -> list[list[list[float]]]:
        x, y = lon + dx, lat + dy
        return [[[x, y], [x + 4e-5, y], [x + 4e-5, y + 4e-5], [x, y + 4e-5], [x, y]]]

    def plan(bad_kind: str) -> Path:
        features: list[dict[str, Any]] = [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square(0, 0)},
             "properties": {"name": "Pop-up north", "kind": "event_area", "level": 2,
                            "ref": "popup-n"}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square(6e-5, 0)},
             "properties": {"name": "Pop-up south", "kind": bad_kind, "level": 2,
                            "ref": "popup-s"}},
        ]  # fmt: skip
        if not bad_kind:
            del features[1]["properties"]["kind"]  # imports as a store, with a warning
        path = tmp_path / f"plan-{bad_kind}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path

    page = sign_in(browser, server, sign_ins["operator"])
    page.goto(f"{server.base}/console/malls/1/import")
    page.get_by_label("GeoJSON FeatureCollection").set_input_files(str(plan("spaceship")))
    page.get_by_role("button", name="Check (dry run)").click()
    refused = page.locator("#refused li")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("Pop-up south")
    expect(refused).to_contain_text("kind")
    expect(page.locator("path.refused-zone")).to_have_count(1)
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    shot(page, "operator-import-refused")

    page.get_by_label("GeoJSON FeatureCollection").set_input_files(str(plan("")))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#import-summary")).to_contain_text("All 2 features pass: 2 new")
    expect(page.locator("#import-summary")).to_contain_text("1 to look at again")
    expect(page.locator("path.refused-zone")).to_have_count(0)
    expect(page.locator("path.warned-zone")).to_have_count(1)
    warned = page.locator("#warned li")
    expect(warned).to_have_count(1)
    expect(warned).to_contain_text("no kind: imported as a store")
    warned.get_by_text("Which").click()
    expect(warned).to_contain_text("Pop-up south")
    shot(page, "operator-import-warnings")

    page.get_by_label("GeoJSON FeatureCollection").set_input_files(str(plan("store")))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#import-summary")).to_contain_text("All 2 features pass: 2 new")
    expect(page.locator("#warned li")).to_have_text("None.")
    expect(page.locator("path.refused-zone")).to_have_count(0)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-summary")).to_have_text("Imported: 2 new, 0 updated.")
    stored = api(server, operator_key, "GET", "/v1/malls/1/zones?level=2")["features"]
    assert {"Pop-up north", "Pop-up south"} <= {z["properties"]["name"] for z in stored}


def test_an_operator_imports_an_imdf_archive_from_the_file_picker(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    _, lon, lat = store_point(server, operator_key, "STARBUCKS COFFEE")
    ring = [[lon, lat], [lon + 3e-5, lat], [lon + 3e-5, lat + 3e-5], [lon, lat + 3e-5], [lon, lat]]
    kiosk = imdf_feature("kiosk", imdf_id("kiosk", "browser"), {"type": "Polygon",
                         "coordinates": [ring]}, name={"en": "Phone cases"},
                         level_id="level-f3")  # fmt: skip
    files = {"level.geojson": imdf_collection([imdf_feature("level", "level-f3", None, ordinal=2,
                                                            name={"en": "F3"})]),
             "kiosk.geojson": imdf_collection([kiosk])}  # fmt: skip
    path = tmp_path / "venue.zip"
    path.write_bytes(imdf_archive(files))

    page = sign_in(browser, server, sign_ins["operator"])
    page.goto(f"{server.base}/console/malls/1/import")
    page.get_by_label("IMDF archive").set_input_files(str(path))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#import-summary")).to_contain_text("All 1 features pass: 1 new")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-summary")).to_have_text("Imported: 1 new, 0 updated.")
    stored = api(server, operator_key, "GET", "/v1/malls/1/zones?level=2")["features"]
    phones = [z["properties"] for z in stored if z["properties"]["name"] == "Phone cases"]
    assert phones == [phones[0]]
    assert phones[0].items() >= {("kind", "store"), ("occupancy", "unit"), ("ref", kiosk["id"])}


def test_an_operator_draws_a_zone_whose_name_stays_text(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str
) -> None:
    page = sign_in(browser, server, sign_ins["operator"])
    page.goto(f"{server.base}/console/malls/1/map")
    expect(page.locator("path[data-zone]").first).to_be_visible()
    shot(page, "operator-map")
    # Corners around the centre of Starbucks' store, found on the map itself.
    zone_id, _, _ = store_point(server, operator_key, "STARBUCKS COFFEE")
    box = page.locator(f'path[data-zone="{zone_id}"]').bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.get_by_role("button", name="Draw a zone").click()
    for dx, dy in ((-4, -4), (4, -4), (4, 4), (-4, 4)):
        page.mouse.click(cx + dx, cy + dy)
    page.get_by_role("button", name="Finish shape").click()
    page.get_by_label("Name").fill(MARKUP)
    page.get_by_label("Kind").select_option("event_area")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text(f"Saved {MARKUP}.")
    expect(page.locator("#zone-list").get_by_role("button", name=MARKUP)).to_be_visible()

    page.reload()  # drawn again from the server: the name is a label, not a script
    expect(page.locator(".zone-label", has_text=MARKUP)).to_have_count(1)
    stored = api(server, operator_key, "GET", "/v1/malls/1/zones?level=0&kind=event_area")
    (drawn,) = stored["features"]
    assert drawn["properties"]["name"] == MARKUP
    shot(page, "operator-map-drawn")

    # Reshape: drag a corner; then delete it.
    page.locator("#zone-list").get_by_role("button", name=MARKUP).click()
    page.get_by_role("button", name="Reshape").click()
    corner = page.locator(".corner").first.bounding_box()
    assert corner is not None
    x, y = corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 3, y - 3, steps=4)
    page.mouse.up()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text(f"Saved {MARKUP}.")
    reshaped = api(server, operator_key, "GET", f"/v1/malls/1/zones/{drawn['id']}")
    assert reshaped["geometry"] != drawn["geometry"]
    page.get_by_role("button", name="Delete").click()  # the confirm() is accepted
    expect(page.locator("#flash")).to_have_text(f"Deleted {MARKUP}.")
    server.call("GET", f"/v1/malls/1/zones/{drawn['id']}", key=operator_key, expect=404)


def test_an_offer_from_the_tenant_s_phone_preview_to_a_push_the_results_and_the_till(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str,
    fcm: FakeFCM,
) -> None:  # fmt: skip
    zone_id, lon, lat = store_point(server, operator_key, "STARBUCKS COFFEE")
    operator = sign_in(browser, server, sign_ins["operator"])

    # Rules: the form shows the API's refusal by its field, then saves.
    operator.goto(f"{server.base}/console/malls/1/rules")
    operator.get_by_label("Held-out share").fill("0.9")
    operator.get_by_role("button", name="Save rules").click()
    expect(operator.locator("#holdout_share-error")).to_contain_text("0.5")
    operator.get_by_label("Held-out share").fill("0")
    operator.get_by_label("No pushes between").uncheck()
    operator.get_by_role("button", name="Save rules").click()
    expect(operator.locator("#flash")).to_have_text("Rules saved.")
    shot(operator, "operator-rules")
    assert api(server, operator_key, "GET", "/v1/malls/1/rules")["holdout_share"] == 0

    # The tenant writes it, watching the phone preview and the 4 KB, and submits it.
    tenant = sign_in(browser, server, sign_ins["tenant"])
    tenant.get_by_role("link", name="Write an offer").click()
    tenant.get_by_label("Title").fill("Browser latte")
    tenant.get_by_label("Text").fill("拿铁" * 700)  # 1,400 characters, 4,200 bytes of UTF-8
    expect(tenant.locator("#payload-size")).to_contain_text("too long")
    tenant.get_by_label("Text").fill("Two for one, from the console.")
    expect(tenant.locator("#preview-title")).to_have_text("Browser latte")
    expect(tenant.locator("#preview-body")).to_have_text("Two for one, from the console.")
    expect(tenant.locator("#payload-size")).not_to_contain_text("too long")
    tenant.get_by_label("Category").fill("cafe")
    tenant.locator(f'path[data-zone="{zone_id}"]').dispatch_event("click")
    expect(tenant.locator("#chosen-zones")).to_contain_text("STARBUCKS COFFEE")
    tenant.get_by_label("A unique code per shopper").check()
    shot(tenant, "tenant-offer-editor")
    tenant.get_by_role("button", name="Submit for approval").click()
    expect(tenant.locator("#offer-status")).to_have_text("submitted")
    offer_id = int(tenant.url.rsplit("/", 1)[1].split("?")[0])

    # The operator sees it as the phone will, and approves it.
    operator.goto(f"{server.base}/console/malls/1/approvals")
    queued = operator.locator(f"#offer-{offer_id}")
    expect(queued.locator(".notification strong")).to_have_text("Browser latte")
    expect(queued.locator(".chip")).to_have_text("STARBUCKS COFFEE")
    shot(operator, "operator-approvals")
    queued.get_by_role("button", name="Approve").click()
    expect(operator.locator("#flash")).to_have_text("Approved: Browser latte.")
    offer = api(server, operator_key, "GET", f"/v1/malls/1/promotions/{offer_id}")
    assert offer["status"] == "approved"

    # A shopper stands in the store: the push goes out through FCM.
    device = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "fcm_token": "console-phone",
        "consents": {"location": True, "marketing_push": True}}).json()  # fmt: skip
    at = time.time() - 40  # now: the server decides on its wall clock (no quiet hours)
    server.call("POST", "/v1/pings", key=device["token"], expect=200,
                json={"pings": stay(lon, lat, at)})  # fmt: skip
    pushed = wait_for(lambda: [r for r in fcm.accepted() if r.address == "console-phone"])
    code = pushed[0].message["data"]["code"]

    # The results show the push, with the lift chart drawn.
    tenant.goto(f"{server.base}/console/results")
    row = tenant.locator("#funnel tbody tr", has_text=pushed[0].message["notification"]["title"])
    expect(row.locator("td").first).to_have_text("1")
    expect(tenant.locator("#lift-chart svg.intervals")).to_be_visible()
    shot(tenant, "tenant-results")
    operator.goto(f"{server.base}/console/malls/1/results")
    expect(operator.locator("#lift-chart svg.intervals")).to_be_visible()
    expect(operator.locator("#lift-day-chart svg.band")).to_be_visible()
    expect(operator.locator("#heat-top li").first).to_contain_text("STARBUCKS COFFEE: 1")
    # Live: a second shopper walks into adidas; the map follows without a reload.
    operator.get_by_label("Show").select_option("now")
    expect(operator.locator("#live-status")).to_contain_text("1 shoppers in the mall")
    other = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "ios", "consents": {"location": True}}).json()  # fmt: skip
    _, adidas_lon, adidas_lat = store_point(server, operator_key, "adidas")
    server.call("POST", "/v1/pings", key=other["token"], expect=200,
                json={"pings": stay(adidas_lon, adidas_lat, time.time() - 40)})  # fmt: skip
    expect(operator.locator("#live-status")).to_contain_text("2 shoppers in the mall",
                                                             timeout=15_000)  # fmt: skip
    expect(operator.locator("#heat-top")).to_contain_text("adidas: 1")
    # The latest store enters, each with how sure it was (the API's confidence, as a share).
    enters = operator.locator("#live-enters li")
    expect(enters.first).to_contain_text("adidas at ")
    expect(enters.first).to_contain_text(re.compile(r"(9\d|100)% sure, \d+ fixes"))
    expect(operator.locator("#live-enters")).to_contain_text("STARBUCKS COFFEE at ")
    operator.get_by_label("Device id").fill(device["device_id"])
    operator.get_by_role("button", name="Explain").click()
    expect(operator.locator("#why li").first).to_contain_text("sent")
    shot(operator, "operator-results")

    # At the till, on a phone: the code is valid once.
    till = sign_in(browser, server, sign_ins["tenant"], phone=True)
    till.goto(f"{server.base}/console/till")
    till.get_by_label("Shopper's code").fill(code)
    till.get_by_role("button", name="Check and record").click()
    expect(till.locator("#till-result")).to_contain_text("Valid: redemption recorded.")
    shot(till, "tenant-till")
    till.get_by_label("Shopper's code").fill(code)
    till.get_by_role("button", name="Check and record").click()
    expect(till.locator("#till-result")).to_contain_text("used already")


def test_a_rejected_offer_shows_the_operator_s_reason_and_can_be_mended(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]]
) -> None:
    tenant = sign_in(browser, server, sign_ins["tenant"])
    tenant.goto(f"{server.base}/console/offers/new")
    tenant.get_by_label("Title").fill("Free refills all day")
    tenant.get_by_label("Text").fill("Any filter coffee, refilled.")
    tenant.get_by_label("Category").fill("cafe")
    tenant.get_by_role("button", name="Submit for approval").click()
    expect(tenant.locator("#targets-error")).to_contain_text("targets must name zones")
    tenant.get_by_label("The whole mall").check()
    tenant.get_by_role("button", name="Submit for approval").click()
    expect(tenant.locator("#offer-status")).to_have_text("submitted")
    offer_url = tenant.url.split("?")[0]

    operator = sign_in(browser, server, sign_ins["operator"])
    operator.goto(f"{server.base}/console/malls/1/approvals")
    queued = operator.locator(".queued", has_text="Free refills all day")
    queued.get_by_role("button", name="Reject").click()
    expect(queued.locator(".field-error")).to_have_text("Say why, so the store can fix it.")
    queued.get_by_label("Reason, if you reject it").fill("Refills are not free on weekends.")
    queued.get_by_role("button", name="Reject").click()
    expect(operator.locator("#flash")).to_have_text("Rejected: Free refills all day.")

    tenant.goto(offer_url)
    expect(tenant.locator("#rejection")).to_contain_text("Refills are not free on weekends.")
    tenant.get_by_label("Title").fill("Free refills on weekdays")
    tenant.get_by_role("button", name="Save draft").click()
    expect(tenant.locator("#offer-status")).to_have_text("draft")
    shot(tenant, "tenant-offer-mended")


def test_another_tenant_s_offer_is_not_found_by_url(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str
) -> None:
    adidas = next(t for t in api(server, operator_key, "GET", "/v1/malls/1/tenants")
                  if t["name"] == "adidas")  # fmt: skip
    theirs = api(server, operator_key, "GET", "/v1/malls/1/promotions")
    offer_id = next(p["id"] for p in theirs if p["tenant_id"] == adidas["id"])
    page = sign_in(browser, server, sign_ins["tenant"])
    answer = page.goto(f"{server.base}/console/offers/{offer_id}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_customers_by_week_one_member_s_story_and_revenue_by_tier(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]], operator_key: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    tenants = api(server, operator_key, "GET", "/v1/malls/1/tenants")
    stores = [t["id"] for t in tenants if t["name"] in ("STARBUCKS COFFEE", "adidas")]
    drawn = draw(200, 300, np.random.default_rng(8))
    history = tmp_path / "history.csv"
    with history.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(receipts(drawn, stores, datetime.now(UTC) - timedelta(days=301),
                                  prefix="B"))  # fmt: skip
    assert run(server.home, "import", "purchases", str(history), "--mall", "1").returncode == 0
    assert run(server.home, "lifecycle", "--mall", "1").returncode == 0

    operator = sign_in(browser, server, sign_ins["operator"])
    operator.goto(f"{server.base}/console/malls/1/customers")
    expect(operator.locator("#now")).to_contain_text("200 members")
    expect(operator.locator("#weeks-table tbody tr").first).to_be_visible()
    assert operator.locator("#alive tbody tr").count() == 5
    # Another scope: one store, then one segment; the figures follow.
    everyone = operator.locator("#now").text_content()
    operator.get_by_label("Members").select_option("lapsed_buyer")
    expect(operator.locator("#now")).not_to_have_text(everyone or "")
    operator.get_by_label("Members").select_option("")
    operator.get_by_label("Store").select_option(label="adidas")
    expect(operator.locator("#now")).not_to_have_text(everyone or "")
    # One member's story, and a member the mall does not know.
    operator.get_by_label("Member id, as the card shows it").fill("bm00000003")
    operator.get_by_role("button", name="Show").click()
    expect(operator.locator("#member h3")).to_contain_text("Member ")
    expect(operator.locator("#member ol li").first).to_contain_text("Bought")
    shot(operator, "operator-customers")
    operator.get_by_label("Member id, as the card shows it").fill("NOBODY-1")
    operator.get_by_role("button", name="Show").click()
    expect(operator.locator("#member-form .form-error")).to_contain_text("no such member")

    # The results page has the revenue table (its rows come with pushes to members).
    operator.goto(f"{server.base}/console/malls/1/results")
    expect(operator.locator("#revenue-note")).to_contain_text("within 7 days")
    expect(operator.locator("#revenue tbody tr").first).to_be_visible()

    # A store sees its own customers' figures, and no member's story.
    tenant = sign_in(browser, server, sign_ins["tenant"])
    tenant.get_by_role("link", name="Customers").click()
    expect(tenant.locator("#now")).to_contain_text("members")
    assert tenant.locator("#member-form").count() == 0
    assert tenant.get_by_label("Store").count() == 0
    shot(tenant, "tenant-customers")


def test_a_change_without_the_csrf_token_is_refused_and_sign_out_ends_the_session(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]]
) -> None:
    page = sign_in(browser, server, sign_ins["tenant"])
    # The page's own cookie, a script that does not send the token (as a forged form would).
    status = page.evaluate("""async () => (await fetch('/v1/tenant/promotions', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({title: 't',
        body: 'b', category: 'c', targets: {mall: true}})})).status""")
    assert status == 403
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "mallcast_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    # The old cookie, replayed, no longer opens anything.
    replay = httpx.get(f"{server.base}/v1/tenant/me",
                       cookies={"mallcast_session": session["value"]})  # fmt: skip
    assert replay.status_code == 401
    page.goto(f"{server.base}/console/offers")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_an_outside_image_is_not_fetched_while_the_operator_reviews_the_offer(
    browser: Browser, server: Server, sign_ins: dict[str, tuple[str, str]]
) -> None:
    # A tenant's offer whose image lies on another host: the phone shows it, the console does
    # not load it (its content security policy allows images from mallcast only), so that host
    # never learns who reviews the offer, from where, with which browser.
    tenant = sign_in(browser, server, sign_ins["tenant"])
    offer_id = tenant.evaluate("""async () => {
        const made = await mallcast.api("POST", "/v1/tenant/promotions", {
            title: "Tracked", body: "A pixel in the picture", category: "cafe",
            targets: {mall: true}, image_url: "https://tracker.example/pixel.png"});
        await mallcast.api("POST", `/v1/tenant/promotions/${made.id}/submit`);
        return made.id;
    }""")
    operator = sign_in(browser, server, sign_ins["operator"])
    reached: list[str] = []  # what got past the browser's policy to the network

    def record(route: Route) -> None:
        reached.append(route.request.url)
        route.abort()

    operator.route("https://tracker.example/**", record)
    blocked: list[str] = []
    operator.on("requestfailed", lambda request: blocked.append(
        f"{request.url} {request.failure}"))  # fmt: skip
    operator.goto(f"{server.base}/console/malls/1/approvals")
    card = operator.locator(f"#offer-{offer_id}")
    expect(card.locator(".notification strong")).to_have_text("Tracked")
    expect(card.locator("img")).to_have_attribute("src", "https://tracker.example/pixel.png")
    operator.wait_for_load_state("networkidle")
    assert reached == []
    assert blocked == ["https://tracker.example/pixel.png csp"], blocked  # refused by the policy
    # Chromium announces the blocked image as a request before it refuses it: nothing else.
    others = [p for p in operator.problems if "tracker.example" not in p]  # type: ignore[attr-defined]
    assert not others, others
    tenant.close()
