"""Every long-running command stops on SIGINT and SIGTERM, however it was started.

Process managers, IDE stop buttons and CI runners send `kill -INT`; a process they start in the
background may have inherited SIGINT ignored, which Python then leaves ignored.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from runtime.embedded import ClusterState, EmbeddedPostgres
from tests.support.shipped import Process, Server, free_port

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_a_signal_even_with_sigint_ignored(home: Path, signum: int) -> None:
    server = Server(home, sigint_ignored=True, log_level="info").start()
    assert server.stop(signum, timeout_s=30) in (0, -signum)
    assert "Traceback" not in server.output(), server.output()
    # Said once, by the API: the local FCM server in the same process keeps its own quiet.
    assert server.output().count("Finished server process") == 1, server.output()
    assert EmbeddedPostgres(home).status().state is ClusterState.STOPPED


def test_worker_stops_on_sigint_even_with_sigint_ignored(home: Path) -> None:
    worker = Process(("worker",), home, {"worker_metrics_port": str(free_port())},
                     sigint_ignored=True).start()  # fmt: skip
    deadline = time.monotonic() + 60
    while "worker running" not in worker.output() and time.monotonic() < deadline:
        assert worker.alive(), worker.output()
        time.sleep(0.2)
    assert worker.stop(signal.SIGINT, timeout_s=30) == 0, worker.output()
    assert "Traceback" not in worker.output(), worker.output()
    assert EmbeddedPostgres(home).status().state is ClusterState.STOPPED
