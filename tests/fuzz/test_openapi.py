"""Schemathesis over the whole OpenAPI document, against a cold `mallcast serve`, as each role.

Every check is on, as by default (tests/fuzz/schemathesis.toml lists the deliberate
exceptions); the run passes only with no answer >= 500 and no mismatch. Seeds are fixed, so a
run is reproducible: `st run` prints the `st replay` and curl lines of any failure.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.shipped import Server, run

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).resolve().parents[2]
ST = [sys.executable, "-m", "tests.fuzz.st"]  # `st`, with a CPython 3.11 bug worked around
SECONDS = int(os.environ.get("MALLCAST_FUZZ_SECONDS", "40"))  # per role
MALL = [[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]


def key(home: Path, *args: str) -> str:
    created = run(home, "keys", "create", *args)
    assert created.returncode == 0, created.stderr
    return str(re.findall(r"mc_[A-Za-z0-9_-]+", created.stdout)[-1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A cold server with a mall, a level, a tenant, a zone, and each role's credentials."""
    home = tmp_path_factory.mktemp("fuzz-home")
    home.chmod(0o755)
    server = Server(home).start()
    try:
        operator = key(home, "--role", "operator")
        mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
            "name": "Fuzz Mall", "timezone": "UTC",
            "footprint": {"type": "Polygon", "coordinates": [MALL]}}).json()  # fmt: skip
        base = f"/v1/malls/{mall['id']}"
        server.call("POST", f"{base}/levels", key=operator, expect=201,
                    json={"ordinal": 0, "name": "G"})  # fmt: skip
        tenant = server.call("POST", f"{base}/tenants", key=operator, expect=201,
                             json={"name": "Fuzz Coffee", "category": "cafe"}).json()  # fmt: skip
        ring = [[10.001, 50.001], [10.002, 50.001], [10.002, 50.002], [10.001, 50.002],
                [10.001, 50.001]]  # fmt: skip
        server.call("POST", f"{base}/zones", key=operator, expect=201, json={
            "type": "Feature", "properties": {"name": "Fuzz store", "level": 0,
                                              "tenant": tenant["id"]},
            "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
        # A device each for the shopper, for the one who leaves (erasure, a new token: every
        # later call of theirs is a 401) and for OwnTracks.
        device, leaver, phone = (server.call("POST", "/v1/devices", expect=201, json={
            "platform": "android",
            "consents": {"location": True, "marketing_push": True, "loyalty": True}}).json()
            for _ in range(3))  # fmt: skip
        yield {
            "base": server.base,
            "operator": operator,
            "tenant": key(home, "--role", "tenant", "--tenant", str(tenant["id"])),
            "token": device["token"],
            "leaver_token": leaver["token"],
            "phone": phone["device_id"],
            "phone_token": phone["token"],
        }
    finally:
        server.stop()
        log = server.output()
        assert "Traceback" not in log, log[-5000:]


LEAVING = r"^(DELETE /v1/devices/me|POST /v1/devices/me/token)$"
ROLES = {
    # role: (operations, how it authenticates). In this order: the operator's run may delete
    # the tenant (and with it the tenant's key) and the zones the others use, so it runs last.
    "tenant": (["--include-path-regex", r"^/v1/tenant/"], "tenant"),
    "shopper": (["--include-path-regex", r"^/v1/(devices/me|pings|offers)",
                 "--exclude-name-regex", LEAVING], "token"),
    "leaving": (["--include-name-regex", LEAVING], "leaver_token"),
    "owntracks": (["--include-path-regex", r"^/owntracks$"], "basic"),
    "anonymous": (["--include-path-regex", r"^/(health|metrics|v1/devices)$"], None),
    "operator": (["--include-path-regex", r"^/v1/malls"], "operator"),
}  # fmt: skip


@pytest.mark.parametrize("role", list(ROLES))
def test_no_server_error_and_no_schema_mismatch(served: dict[str, str], role: str) -> None:
    operations, credentials = ROLES[role]
    auth: list[str] = []
    if credentials == "basic":
        pair = f"{served['phone']}:{served['phone_token']}"
        auth = ["-H", f"Authorization: Basic {base64.b64encode(pair.encode()).decode()}"]
    elif credentials is not None:
        auth = ["-H", f"Authorization: Bearer {served[credentials]}"]
    result = subprocess.run(
        [*ST, "--config-file", str(CONFIG), "run", f"{served['base']}/openapi.json",
         *operations, "--max-time", str(SECONDS),
         "--seed", "20261202", "--workers", "2", "--request-timeout", "30", "--no-color", *auth],
        capture_output=True, text=True, timeout=SECONDS + 240, check=False, cwd=ROOT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12_000:]
    assert re.search(r"Tested: [1-9]", output), output[-3000:]
    if role != "leaving":  # else only 401s were tested: what the role is for went untried
        assert "Authentication failed" not in output, output[-3000:]
