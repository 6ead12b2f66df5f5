"""A floor plan as venue-mapping tools export it: the real mall as an IMDF archive, imported
through the same endpoint as GeoJSON (the body is a zip)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, shape
from shapely.ops import polylabel

from tests.support.api import error_of, evening_now, register, stay, zones_url
from tests.support.imdf import archive, ilc_imdf_files


def post_archive(
    client: TestClient, mall: dict[str, Any], headers: dict[str, str], body: bytes, query: str = ""
) -> Any:
    # As `curl --data-binary @venue.zip` sends it: no zip Content-Type needed.
    return client.post(f"{zones_url(mall)}/import{query}", content=body,
                       headers=headers | {"Content-Type": "application/octet-stream"})  # fmt: skip


def test_an_imdf_archive_brings_its_levels_and_units(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    files = ilc_imdf_files()
    body = archive(files)
    units = files["unit.geojson"]["features"]
    voids = sum(u["properties"]["category"] in ("opentobelow", "structure") for u in units)

    checked = post_archive(client, bare_mall, platform, body, "?dry_run=true")
    assert checked.status_code == 200, checked.text
    levels_url = f"/v1/malls/{bare_mall['id']}/levels"
    assert [lv["ordinal"] for lv in client.get(levels_url, headers=platform).json()] == [-1, 0, 1]

    imported = post_archive(client, bare_mall, platform, body)
    assert imported.status_code == 200, imported.text
    result = imported.json()
    # The mall had B1, F1 and F2: F3 and F4 come from the archive, named by their short name.
    assert result["levels_created"] == [2, 3]
    levels = client.get(levels_url, headers=platform).json()
    assert [(lv["ordinal"], lv["name"]) for lv in levels][-2:] == [(2, "F3"), (3, "F4")]
    assert (result["created"], result["updated"]) == (len(units) - voids, 0)
    assert result["left_out"] == {"unit opentobelow": voids - 1, "unit structure": 1,
                                  "file opening.geojson": 1, "file amenity.geojson": 1}  # fmt: skip

    # A shop: named after its occupant (the unit has no name), a store unit on its floor; the
    # F1 units of both buildings are on one level.
    exported = client.get(f"{zones_url(bare_mall)}?level=0", headers=platform).json()["features"]
    by_name = {f["properties"]["name"]: f["properties"] for f in exported}
    assert by_name["adidas"].items() >= {("kind", "store"), ("occupancy", "unit"),
                                         ("imdf_category", "room")}  # fmt: skip
    assert by_name["STARBUCKS COFFEE"]["kind"] == "restaurant"  # its occupant sells food
    on_f1 = [
        u
        for u in units
        if u["properties"]["level_id"]
        in {
            lv["id"]
            for lv in files["level.geojson"]["features"]
            if lv["properties"]["ordinal"] == 0
        }
    ]
    assert len(exported) == sum(u["properties"]["category"] != "opentobelow" for u in on_f1)

    # The same archive again: every zone updated by its IMDF id, none twice.
    again = post_archive(client, bare_mall, platform, body).json()
    assert (again["created"], again["updated"], again["levels_created"]) == (
        0,
        result["created"],
        [],
    )
    assert again["zone_ids"] == result["zone_ids"]


def test_a_shopper_in_a_shop_of_the_archive_is_in_it(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    result = post_archive(client, bare_mall, platform, archive(ilc_imdf_files())).json()
    exported = client.get(f"{zones_url(bare_mall)}?level=0", headers=platform).json()["features"]
    adidas = next(f for f in exported if f["properties"]["name"] == "adidas")
    assert adidas["id"] in result["zone_ids"]
    outline = shape(adidas["geometry"])
    if isinstance(outline, MultiPolygon):
        outline = max(outline.geoms, key=lambda part: part.area)
    point = polylabel(outline, tolerance=1e-7)
    _, headers = register(client, location=True)
    pings = stay(point.x, point.y, evening_now(), seconds=60)
    answer = client.post("/v1/pings", headers=headers, json={"pings": pings})
    enters = [e["zone_id"] for e in answer.json()["events"] if e["kind"] == "enter"]
    assert adidas["id"] in enters


def test_an_archive_mallcast_cannot_read_is_refused_with_where(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    files = ilc_imdf_files()

    def refused(body: bytes, query: str = "") -> dict[str, Any]:
        return error_of(post_archive(client, bare_mall, platform, body, query), 422)

    assert refused(b"PK\x03\x04 not really a zip")["code"] == "invalid_imdf"
    no_levels = {name: data for name, data in files.items() if name != "level.geojson"}
    assert refused(archive(no_levels))["details"]["path"] == "level.geojson"
    astray = {"category": "room", "level_id": "nowhere"}
    lost = {**files, "unit.geojson": {"type": "FeatureCollection", "features": [
        {**files["unit.geojson"]["features"][0], "properties": astray}]}}  # fmt: skip
    assert refused(archive(lost))["details"]["path"] == "unit.geojson.features[0]"
    assert refused(archive(files), "?level=0")["code"] == "imdf_parameters"

    # A zip bomb: a small archive that unpacks to more than the server unpacks.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("unit.geojson", b" " * (300 * 1024 * 1024))
    bomb = buffer.getvalue()
    assert len(bomb) < 1024 * 1024
    assert "more than" in refused(bomb)["message"]
    # Nothing of it stored.
    assert client.get(zones_url(bare_mall), headers=platform).json()["features"] == []
