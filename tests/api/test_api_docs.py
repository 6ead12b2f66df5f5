"""/docs and /redoc work offline: every file they load comes from mallcast itself."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_documentation_loads_nothing_from_outside(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert re.findall(r"(?:https?:)?//[\w.-]+", html.text) == []  # no other host, not even //cdn
    assets = re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", html.text)
    assert assets, html.text
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000 or asset.endswith(".png")
    assert client.get("/openapi.json").json()["info"]["title"] == "mallcast"


def test_every_reference_in_the_openapi_document_resolves(client: TestClient) -> None:
    """Schemas written by hand (a body a handler reads itself) refer to the document's own
    components, which must be there: a dangling one breaks clients' generators and /docs."""
    document = client.get("/openapi.json").json()
    refs = set(re.findall(r'"\$ref": ?"([^"]+)"', json.dumps(document)))
    assert refs
    schemas = document["components"]["schemas"]
    dangling = [r for r in refs if not r.startswith("#/components/schemas/")
                or r.rsplit("/", 1)[1] not in schemas]  # fmt: skip
    assert dangling == []
