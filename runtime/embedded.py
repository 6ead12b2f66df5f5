"""The embedded default: a private PostgreSQL + PostGIS cluster that mallcast runs itself.

The cluster lives under `MALLCAST_HOME/postgres` (data, Unix socket, log), listens on a Unix
socket only (no TCP port to collide with or to expose), and is driven with the system's own
PostgreSQL binaries through `initdb` and `pg_ctl`. `initdb` and `postgres` refuse to run as root,
so when mallcast is root the cluster belongs to, and runs as, an unprivileged user.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import quote

import psycopg

from runtime.pg_host import (
    EmbeddedError,
    PgBinaries,
    RunAs,
    check_postgis,
    find_binaries,
    traversable,
)

DATABASE = "mallcast"
SUPERUSER = "mallcast"
PORT = 5432  # only names the socket file: the socket directory is private, so no collisions
# Linux caps a Unix socket path at 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 100
# When mallcast is root and the pg user cannot reach MALLCAST_HOME (e.g. under /root, mode 0700).
_ROOT_FALLBACK = Path("/var/lib/mallcast/clusters")


class ClusterState(Enum):
    ABSENT = "absent"  # never initialised
    STOPPED = "stopped"
    RUNNING = "running"


@dataclass(frozen=True)
class ClusterStatus:
    state: ClusterState
    pid: int | None
    data_dir: Path
    socket_dir: Path
    url: str


class EmbeddedPostgres:
    """A private cluster under `home`. Safe to call from several processes: start holds a lock."""

    def __init__(
        self,
        home: Path,
        *,
        binaries: PgBinaries | None = None,
        pg_bin: Path | None = None,
        pg_user: str | None = None,
        durable: bool = True,
    ) -> None:
        self.home = home.expanduser().resolve()
        self._binaries = binaries
        self._pg_bin = pg_bin
        self.durable = durable
        self.run_as = RunAs.resolve(pg_user) if os.geteuid() == 0 else None
        self.cluster_dir = self._choose_cluster_dir()
        self.data_dir = self.cluster_dir / "data"
        self.log_file = self.cluster_dir / "postgres.log"
        self.socket_dir = self._choose_socket_dir()

    # -- layout -------------------------------------------------------------------------------

    def _digest(self) -> str:
        return hashlib.sha256(str(self.home).encode()).hexdigest()[:12]

    def _choose_cluster_dir(self) -> Path:
        preferred = self.home / "postgres"
        if self.run_as and not traversable(self.home, self.run_as.uid, self.run_as.groups()):
            return _ROOT_FALLBACK / self._digest()
        return preferred

    def _choose_socket_dir(self) -> Path:
        preferred = self.cluster_dir / "run"
        if len(str(preferred / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return preferred
        return Path(tempfile.gettempdir()) / f"mallcast-{self._digest()}"

    @property
    def binaries(self) -> PgBinaries:
        if self._binaries is None:
            self._binaries = find_binaries(self._pg_bin)
        return self._binaries

    def url(self, database: str = DATABASE) -> str:
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def conninfo(self, database: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=PORT, user=SUPERUSER, dbname=database
        )

    # -- state --------------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The postmaster's pid when it is alive; a pid file left by a dead one does not count."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first_line = pid_file.read_text().splitlines()[0]
            pid = int(first_line.strip())
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if _is_postgres(pid) else None

    def status(self) -> ClusterStatus:
        if not (self.data_dir / "PG_VERSION").exists():
            state, pid = ClusterState.ABSENT, None
        else:
            pid = self.running_pid()
            state = ClusterState.RUNNING if pid else ClusterState.STOPPED
        return ClusterStatus(state, pid, self.data_dir, self.socket_dir, self.url())

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout_s: float = 60) -> bool:
        """Initialise if needed, start if not running, create the database and PostGIS.

        Returns True when this call started the server (so the caller owns stopping it).
        """
        binaries = self.binaries
        check_postgis(binaries)
        with self._lock():
            started = False
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            if self.running_pid() is None:
                self._clear_stale_files()
                self._prepare_dir(self.socket_dir)
                self._run(
                    [
                        binaries.tool("pg_ctl"),
                        "start",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-w",
                        "-t",
                        str(int(timeout_s)),
                        "-o",
                        self._server_options(),
                    ],
                    what="start PostgreSQL",
                )
                started = True
            self._wait_ready(timeout_s)
            self.ensure_database()
            return started

    def stop(self, timeout_s: float = 60) -> bool:
        """Stop the server if it runs (fast shutdown: sessions end, data stays). True if stopped."""
        with self._lock():
            if self.running_pid() is None:
                self._clear_stale_files()
                return False
            self._run(
                [
                    self.binaries.tool("pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                ],
                what="stop PostgreSQL",
            )
            return True

    def ensure_database(self, database: str = DATABASE) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')  # name is ours, not user input
        with psycopg.connect(self.conninfo(database), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def drop_database(self, database: str) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    # -- internals ----------------------------------------------------------------------------

    def _server_options(self) -> str:
        options = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "port": str(PORT),
            "max_connections": "200",
            "shared_buffers": "256MB",
        }
        if not self.durable:  # throwaway test clusters: no need to survive a power cut
            options |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        return " ".join(f"-c {key}={shlex.quote(value)}" for key, value in options.items())

    def _initdb(self) -> None:
        self._prepare_dir(self.cluster_dir)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedError(
                f"{self.data_dir} holds files but no PostgreSQL cluster (no PG_VERSION): "
                "move it away and start again"
            )
        self._run(
            [
                self.binaries.tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",  # the socket directory is private: only its owner connects
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            what="initialise the PostgreSQL cluster",
        )

    def _prepare_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            os.chown(path, self.run_as.uid, self.run_as.gid)
        path.chmod(0o700)

    def _clear_stale_files(self) -> None:
        """Remove what a killed postmaster left behind, so that the next start succeeds."""
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        for leftover in (f".s.PGSQL.{PORT}", f".s.PGSQL.{PORT}.lock"):
            (self.socket_dir / leftover).unlink(missing_ok=True)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedError(
                        f"PostgreSQL did not accept connections within {timeout_s:.0f} s: {exc}; "
                        f"see {self.log_file}"
                    ) from exc
                time.sleep(0.1)

    def _run(self, argv: Sequence[str], *, what: str) -> None:
        kwargs: dict[str, object] = {}
        if self.run_as:
            kwargs = {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            cwd=self.cluster_dir if self.cluster_dir.exists() else "/",
            env=env,
            check=False,
            start_new_session=True,  # Ctrl-C in our terminal must not reach the postmaster
            **kwargs,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()
            last = output[-1] if output else f"exit status {result.returncode}"
            raise EmbeddedError(f"could not {what}: {last} (log: {self.log_file})")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".cluster.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _is_postgres(pid: int) -> bool:
    """Whether `pid` is a live PostgreSQL process (not a zombie left by a killed postmaster)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the signal probe
    # "pid (comm) state ...": comm may hold spaces, so split at the last parenthesis.
    comm = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
    state = stat_line[stat_line.rindex(")") + 2 :].split(" ", 1)[0]
    return comm in {"postgres", "postmaster"} and state not in {"Z", "X"}
