"""Fails when a product module grows past the size a reader takes in at once (docs/architecture.md).

Tests, benchmarks and migrations are left out: a table of cases or a migration may be long.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 400  # "about 400 lines", as the style guide puts it
PACKAGES = (
    "access",
    "api",
    "cli",
    "console",
    "core",
    "demo",
    "geofence",
    "loyalty",
    "promotions",
    "push",
    "runtime",
)


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    too_long = [
        (path.relative_to(root), lines)
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    ]
    for path, lines in too_long:
        print(f"{path}: {lines} lines (at most {LIMIT}): split it by idea", file=sys.stderr)
    return 1 if too_long else 0


if __name__ == "__main__":
    sys.exit(main())
