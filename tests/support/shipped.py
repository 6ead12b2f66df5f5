"""mallcast as shipped: the `mallcast` command in a process of its own, spoken to over HTTP only.

Nothing of the test process reaches the server process: it starts from the installed entry
point, in an empty working directory, with an environment free of the caller's MALLCAST_*
variables, so import order, settings and start-up are the user's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

MALLCAST = str(Path(sys.executable).parent / "mallcast")
STARTED: list[Process] = []  # every process a test started, until its home is cleaned up


def env_for(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a fresh user: no MALLCAST_* of ours, `settings` as MALLCAST_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLCAST_")}
    env |= {"MALLCAST_HOME": str(home), "MALLCAST_LOG_LEVEL": "warning"}
    return env | {f"MALLCAST_{name.upper()}": value for name, value in settings.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(home: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """One `mallcast` command to its end, in the user's environment."""
    return subprocess.run(
        [MALLCAST, *args], env=env_for(home, **settings), capture_output=True, text=True,
        timeout=120, check=False, cwd=tempfile.gettempdir(),
    )  # fmt: skip


def stop_all(home: Path) -> None:
    """Stop what a test started on `home` and left running (an assertion failed before it
    stopped its server): no `mallcast serve` outlives its test."""
    for process in [p for p in STARTED if p.home == home]:
        STARTED.remove(process)
        if process.alive():
            process.stop(signal.SIGKILL, timeout_s=10)


@dataclass
class Process:
    """A running `mallcast` command whose output goes to a file (a pipe could fill and stall it)."""

    args: tuple[str, ...]
    home: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    # As started in the background by a non-interactive shell or a CI runner: SIGINT ignored.
    sigint_ignored: bool = False

    @property
    def log_path(self) -> Path:
        return self.home / f"{self.args[0]}-{id(self)}.log"

    def start(self) -> Process:
        STARTED.append(self)
        log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [MALLCAST, *self.args], env=env_for(self.home, **self.settings), stdout=log,
            stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
            preexec_fn=_ignore_sigint if self.sigint_ignored else None,
        )  # fmt: skip
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, signum: int = signal.SIGINT, timeout_s: float = 60) -> int:
        """Send `signum` and wait; kill (and fail) when it does not stop in time."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                raise AssertionError(
                    f"mallcast {self.args[0]} ignored {signal.Signals(signum).name} for "
                    f"{timeout_s:.0f} s:\n{self.output()[-2000:]}"
                ) from None
        return self.popen.returncode


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Server(Process):
    """`mallcast serve` on a port of its own; `call` refuses any 5xx answer."""

    def __init__(
        self, home: Path, *extra: str, command: str = "serve", sigint_ignored: bool = False,
        **settings: str,
    ) -> None:  # fmt: skip
        self.port = free_port()
        super().__init__((command, "--port", str(self.port), *extra), home, settings,
                         sigint_ignored=sigint_ignored)  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.answers: list[tuple[str, str, int]] = []

    def start(self, timeout_s: float = 120) -> Server:
        super().start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"mallcast serve exited:\n{self.output()[-3000:]}")
            try:
                if self.client.get("/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"mallcast serve was not healthy in time:\n{self.output()[-3000:]}")

    def call(
        self, method: str, path: str, *, key: str | None = None, expect: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.answers.append((method, path, response.status_code))
        assert response.status_code < 500, (
            f"{method} {path} answered {response.status_code}: {response.text[:500]}\n"
            f"server log:\n{self.output()[-3000:]}"
        )
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response

    def stop(self, signum: int = signal.SIGINT, timeout_s: float = 60) -> int:
        self.client.close()
        return super().stop(signum, timeout_s)


def serve_until_healthy(home: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [MALLCAST, "serve", "--demo", "--port", str(port), *extra],
        env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("mallcast serve did not become healthy")


def wait_for(found: Any, timeout_s: float = 30) -> Any:
    """What `found()` returns once it is truthy (a push reaching FCM, say); fails after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.1)
    raise AssertionError("not within the time allowed")
