"""A shopper's device linked to their loyalty membership: only with consent, undone by
withdrawing it, and erased with the device or with the member."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import Database
from tests.support.api import error_of, shopper

MEMBER = {"member_id": "M-77001"}


def links(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM member_devices")).scalar_one())


def test_a_device_links_to_a_member_only_with_the_loyalty_consent(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    headers = shopper(client)
    body = MEMBER | {"mall_id": mall["id"]}
    refused = client.put("/v1/devices/me/member", headers=headers, json=body)
    assert error_of(refused, 403)["code"] == "consent_required"
    assert links(db) == 0

    consented = client.patch("/v1/devices/me", headers=headers,
                             json={"consents": {"loyalty": True}})  # fmt: skip
    assert consented.json()["consents"]["loyalty"] is True
    linked = client.put("/v1/devices/me/member", headers=headers, json=body)
    assert linked.status_code == 200, linked.text
    assert linked.json()["member_linked"] is True
    assert "77001" not in linked.text  # the member id is never shown back
    assert client.get("/v1/devices/me", headers=headers).json()["member_linked"] is True
    assert links(db) == 1

    # Withdrawing the consent undoes the link at once.
    withdrawn = client.patch("/v1/devices/me", headers=headers,
                             json={"consents": {"loyalty": False}})  # fmt: skip
    assert withdrawn.json()["member_linked"] is False
    assert links(db) == 0


def test_erasing_the_device_or_the_member_erases_the_link(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    first, second = shopper(client, loyalty=True), shopper(client, loyalty=True)
    for headers in (first, second):
        answer = client.put("/v1/devices/me/member", headers=headers,
                            json=MEMBER | {"mall_id": mall["id"]})  # fmt: skip
        assert answer.status_code == 200, answer.text
    assert links(db) == 2
    assert client.delete("/v1/devices/me", headers=first).status_code == 204
    assert links(db) == 1
    erased = client.post(f"/v1/malls/{mall['id']}/members/erase", headers=mall["operator"],
                         json=MEMBER)  # fmt: skip
    assert erased.json() == {"erased": True}
    assert links(db) == 0
    assert client.get("/v1/devices/me", headers=second).json()["member_linked"] is False


def test_a_link_names_a_mall_that_exists_and_can_be_undone(
    client: TestClient, mall: dict[str, Any]
) -> None:
    headers = shopper(client, loyalty=True)
    missing = client.put("/v1/devices/me/member", headers=headers,
                         json=MEMBER | {"mall_id": mall["id"] + 1})  # fmt: skip
    assert error_of(missing, 404)
    client.put("/v1/devices/me/member", headers=headers, json=MEMBER | {"mall_id": mall["id"]})
    assert client.delete("/v1/devices/me/member", headers=headers).status_code == 204
    assert client.get("/v1/devices/me", headers=headers).json()["member_linked"] is False


def test_the_erasure_ledger_keeps_hashes_only(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    headers = shopper(client, loyalty=True)
    device_id = uuid.UUID(client.get("/v1/devices/me", headers=headers).json()["device_id"])
    client.put("/v1/devices/me/member", headers=headers, json=MEMBER | {"mall_id": mall["id"]})
    assert client.delete("/v1/devices/me", headers=headers).status_code == 204
    erased = client.post(f"/v1/malls/{mall['id']}/members/erase", headers=mall["operator"],
                         json=MEMBER)  # fmt: skip
    assert erased.json() == {"erased": True}
    with db.engine.connect() as conn:
        ledger = conn.execute(text("SELECT kind, mall_id, key FROM erasures ORDER BY id")).all()
        pseudonyms = conn.execute(text("SELECT count(*) FROM members")).scalar_one()
    assert [(kind, mall_id) for kind, mall_id, _ in ledger] == [("device", None),
                                                               ("member", mall["id"])]  # fmt: skip
    assert bytes(ledger[0][2]) == hashlib.sha256(device_id.bytes).digest()
    assert device_id.bytes not in bytes(ledger[0][2])
    assert b"77001" not in bytes(ledger[1][2])
    assert len(bytes(ledger[1][2])) == 32  # the member's pseudonym, a keyed hash
    assert pseudonyms == 0
