"""`mallcast serve --workers N`: N API processes on one port.

Each worker binds its own socket with SO_REUSEPORT, so the kernel spreads connections across
them. uvicorn's own `--workers` shares one listening socket, and with keep-alive clients one
worker tends to win most connections (measured: one process at 90% CPU, the other idle).
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import socket
import time

import uvicorn


def serve_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Run the workers until they stop (or this process is told to stop). Returns the exit code:
    non-zero when a worker died on its own, so that a supervisor restarts the whole service."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(host, port, log_level), name=f"api-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        while all(p.is_alive() for p in processes):
            time.sleep(0.2)
        return 1
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
    config = uvicorn.Config("api.app:worker_app", factory=True, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
