"""The docs stay true: the API guide's curl examples run, as written, against
`mallcast serve --demo`, and the README's configuration table names every setting."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.settings import Settings
from tests.support.shipped import env_for, free_port, serve_until_healthy

pytestmark = pytest.mark.slow  # processes of their own: not in the fast lane

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("curl") is None, reason="the guide's examples use curl")
def test_api_guide_examples_work_against_the_demo(home: Path) -> None:
    port = free_port()
    server = serve_until_healthy(home, port)
    try:
        guide = (ROOT / "docs" / "api.md").read_text()
        blocks = re.findall(r"```sh\n(.*?)```", guide, re.S)
        script = "set -eu -o pipefail\n" + "\n".join(blocks).replace(
            "BASE=http://127.0.0.1:8000", f"BASE=http://127.0.0.1:{port}"
        )
        workdir = home.parent / f"{home.name}-guide"
        workdir.mkdir()
        (workdir / ".venv").symlink_to(ROOT / ".venv")
        (workdir / ".mallcast").symlink_to(home)
        bash = shutil.which("bash") or "/bin/bash"
        result = subprocess.run(
            [bash, "-c", script], cwd=workdir, env=env_for(home),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert '"status":"ok"' in out
    assert '"code":"invalid_geometry"' in out  # the guide's deliberate mistake
    assert '"dry_run":true' in out
    assert '"max_pushes_per_day":2' in out
    assert '"kind":"enter","subject":"zone"' in out
    assert '"status":"submitted"' in out
    assert '"status":"approved"' in out
    assert '"code":"code_not_found"' in out
    assert "mallcast_pings_total" in out


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## The command line")]
    missing = [n for n in Settings.model_fields if f"`MALLCAST_{n.upper()}`" not in table]
    assert missing == []
