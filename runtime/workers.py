"""`mallcast serve --workers N`: N API processes on one port, kept alive.

Each worker binds its own socket with SO_REUSEPORT, so the kernel spreads connections across
them. uvicorn's own `--workers` shares one listening socket, and with keep-alive clients one
worker tends to win most connections (measured: one process at 90% CPU, the other idle).

A worker that dies (killed, out of memory) is replaced at once, as gunicorn's arbiter does; the
others serve meanwhile. Only a crash loop (more than RESTART_BUDGET restarts per worker in a
minute) ends the service, with a non-zero exit, for the outer supervisor to see.
"""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import multiprocessing.process
import socket
import time
from collections import deque

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from console.app import install as with_console
from core.db import Database
from core.settings import get_settings
from runtime.database import database_url
from runtime.logs import private_access_log

RESTART_BUDGET = 5  # per worker and minute
log = logging.getLogger("mallcast.workers")


def serve_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Run the workers until this process is told to stop; returns the exit code (non-zero
    after a crash loop)."""
    context = multiprocessing.get_context("spawn")

    def start(slot: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port, log_level), name=f"api-{slot}")
        process.start()
        return process

    processes = [start(slot) for slot in range(workers)]
    restarts: deque[float] = deque()
    try:
        while True:
            time.sleep(0.2)
            for slot, process in enumerate(processes):
                if process.is_alive():
                    continue
                now = time.monotonic()
                restarts.append(now)
                while restarts and restarts[0] < now - 60:
                    restarts.popleft()
                if len(restarts) > RESTART_BUDGET * workers:
                    log.error(
                        "API processes keep dying (%d restarts in a minute): stopping",
                        len(restarts),
                    )
                    return 1
                log.warning(
                    "API process %s (pid %s) exited with %s; starting another",
                    process.name,
                    process.pid,
                    process.exitcode,
                )
                processes[slot] = start(slot)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def _worker(host: str, port: int, log_level: str) -> None:
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    config = uvicorn.Config("runtime.workers:worker_app", factory=True, log_level=log_level)
    private_access_log()  # after uvicorn has configured its loggers in this process
    uvicorn.Server(config).run(sockets=[sock])


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def worker_app() -> FastAPI:
    """One API process of `mallcast serve --workers N` (a uvicorn factory): the parent has
    started the database and passes its URL in MALLCAST_DATABASE_URL."""
    settings = get_settings()
    database = Database(database_url(settings), pool_size=settings.db_pool_size)
    return with_console(create_app(settings, database, warm=True, owns_database=True))
