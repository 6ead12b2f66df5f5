#!/usr/bin/env bash
# Installs what mallcast needs on Debian/Ubuntu: PostgreSQL 15 with PostGIS 3
# (the embedded cluster runs on these binaries) and the Python package in .venv; with --tests,
# Chromium too (the console's browser tests).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJOR="${MALLCAST_PG_MAJOR:-15}"
PYTHON="${PYTHON:-python3}"

need_apt=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/initdb" ] || need_apt+=("postgresql-${PG_MAJOR}")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/postgis.control" ] \
    || need_apt+=("postgresql-${PG_MAJOR}-postgis-3")
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=("python3-venv")
# The console's browser tests drive Debian's Chromium through Playwright (no browser download):
# installed for the tests only (`setup.sh --tests`, as scripts/test.sh calls it).
if [ "${1:-}" = "--tests" ]; then
    [ -x /usr/bin/chromium ] || need_apt+=("chromium")
fi

if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # Installing the server package must not start or create a system cluster we never use.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.mallcast-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing mallcast and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
echo "setup: done"
