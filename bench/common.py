"""What every bench script shares: a private PostGIS, the seeded real mall, a real server,
and figures printed as a table and (with --json) as one JSON object on the last line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from core.db import Database
from demo.seed import seed_demo
from runtime.embedded import EmbeddedPostgres
from runtime.migrate import upgrade


def arguments(
    description: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, done within 60 s")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    if configure is not None:
        configure(parser)
    return parser.parse_args()


@contextmanager
def bench_database(*, with_promotions: bool = False) -> Iterator[tuple[str, int]]:
    """A throwaway embedded cluster with the demo mall: (URL, mall id)."""
    external = os.environ.get("MALLCAST_BENCH_DATABASE_URL")
    home = Path(tempfile.mkdtemp(prefix="mallcast-bench-"))
    home.chmod(0o755)
    cluster = None
    try:
        if external:
            url = external
        else:
            cluster = EmbeddedPostgres(home, durable=True)
            cluster.start()
            url = cluster.url()
        upgrade(url)
        database = Database(url, pool_size=1)
        with database.sessions() as session:
            mall_id = seed_demo(session, with_promotions=with_promotions).id
            session.commit()
        database.dispose()
        yield url, mall_id
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mallcast_server(url: str, **env: str) -> Iterator[str]:
    """`mallcast serve` in its own process (one uvicorn worker), on a free port."""
    port = free_port()
    environment = os.environ | {"MALLCAST_DATABASE_URL": url, "MALLCAST_LOG_LEVEL": "warning",
                                "MALLCAST_PORT": str(port)} | env  # fmt: skip
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mallcast"), "serve"], env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mallcast serve failed: {process.stderr!r}")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    values = np.array(latencies_s) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def report(title: str, rows: list[tuple[str, str]], figures: dict[str, Any], as_json: bool) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if as_json:
        print(json.dumps(figures, sort_keys=True))


@contextmanager
def local_fcm(latency_ms: float = 0.0) -> Iterator[str]:
    """The local FCM-compatible server in a process of its own (so that it is not measured
    with us), answering each message `latency_ms` later: its URL once it answers."""
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "push.fcm_server", "--port", str(port),
         "--latency-ms", str(latency_ms)], cwd=root,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{url}/token", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the local FCM server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
