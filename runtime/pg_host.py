"""What this machine offers an embedded PostgreSQL: the server binaries and their version,
PostGIS, and (when mallcast is root) the unprivileged user to run the cluster as."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path


class EmbeddedError(RuntimeError):
    """One line that says what is wrong and what to do about it."""


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    major: int
    sharedir: Path

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_binaries(explicit: Path | None = None) -> PgBinaries:
    """Locate the PostgreSQL server binaries: MALLCAST_PG_BIN only, else Debian's layout, PATH."""
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(explicit)  # an explicit choice is never silently replaced
    else:
        candidates.extend(
            sorted(
                Path("/usr/lib/postgresql").glob("*/bin"),
                key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                reverse=True,
            )
        )
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return _describe(bindir)
    where = f" in MALLCAST_PG_BIN={explicit}" if explicit else ""
    raise EmbeddedError(
        f"PostgreSQL server binaries not found{where}: install them with "
        "`apt-get install postgresql-15 postgresql-15-postgis-3`, or set MALLCAST_DATABASE_URL"
    )


def _describe(bindir: Path) -> PgBinaries:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise EmbeddedError(f"cannot tell the PostgreSQL version of {bindir}/postgres: {out!r}")
    major = int(match.group(1))
    sharedir: Path | None = None
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        res = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
        )
        if res.returncode == 0 and res.stdout.strip():
            sharedir = Path(res.stdout.strip())
    if sharedir is None or not sharedir.exists():
        for guess in (Path(f"/usr/share/postgresql/{major}"), bindir.parent / "share/postgresql"):
            if guess.exists():
                sharedir = guess
                break
    return PgBinaries(bindir=bindir, major=major, sharedir=sharedir or bindir.parent / "share")


def check_postgis(binaries: PgBinaries) -> None:
    if not (binaries.sharedir / "extension" / "postgis.control").exists():
        raise EmbeddedError(
            f"PostGIS is not installed for PostgreSQL {binaries.major}: "
            f"install it with `apt-get install postgresql-{binaries.major}-postgis-3`"
        )


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account that owns and runs the cluster when mallcast is root."""

    name: str
    uid: int
    gid: int

    @classmethod
    def resolve(cls, preferred: str | None) -> RunAs:
        names = [preferred] if preferred else ["postgres", "nobody"]
        for name in names:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)
        raise EmbeddedError(
            f"running as root needs an unprivileged user for PostgreSQL; none of {names} exists "
            "(create one, or set MALLCAST_PG_USER)"
        )

    def groups(self) -> set[int]:
        return {self.gid, *os.getgrouplist(self.name, self.gid)}


def traversable(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether a user can reach `path` (execute permission on it and every ancestor)."""
    for directory in [path, *path.parents]:
        try:
            mode = directory.stat().st_mode
            owner, group = directory.stat().st_uid, directory.stat().st_gid
        except FileNotFoundError:
            continue  # will be created by root with mode 0755
        if owner == uid:
            bit = stat.S_IXUSR
        elif group in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode & bit:
            return False
    return True
