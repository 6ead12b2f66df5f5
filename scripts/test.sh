#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh), then checks style and types and runs the
# whole suite, on two pytest-xdist workers, on throwaway embedded PostGIS clusters (or on
# MALLCAST_TEST_DATABASE_URL when set).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy .
echo "== architecture"
.venv/bin/lint-imports --no-cache  # the package layers of docs/architecture.md
.venv/bin/python scripts/check_size.py  # no product file over ~400 lines
echo "== pytest"
# Two workers, each with an embedded cluster of its own: the whole suite in about half the time.
.venv/bin/pytest -n 2 "$@"
