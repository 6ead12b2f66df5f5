"""The embedded cluster, started again when it dies under a running mallcast.

The OOM killer, a crash or a `kill -9` of the postmaster leave mallcast answering 503 with
nothing to bring the database back: the process is alive, so no supervisor restarts it. Every
few seconds the watch looks: a postmaster that is gone but left its pid file (a clean stop
removes it) died, and is started again (crash recovery replays its WAL; nothing committed is
lost). The connection pool pings before use, so requests recover by themselves. A cluster
stopped cleanly (`mallcast db stop`) is left stopped: someone meant it.
"""

from __future__ import annotations

import logging
import threading

from runtime.embedded import EmbeddedPostgres

log = logging.getLogger("mallcast.database")


class ClusterWatch:
    def __init__(self, cluster: EmbeddedPostgres, every_s: float = 3.0) -> None:
        self.cluster = cluster
        self.every_s = every_s
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-watch", daemon=True)

    def start(self) -> ClusterWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Before the cluster is stopped: a stop is not a death to undo."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)

    def died(self) -> bool:
        pid_file = self.cluster.data_dir / "postmaster.pid"
        return pid_file.exists() and self.cluster.running_pid() is None

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            if not self.died():
                continue
            log.error("embedded PostgreSQL died (its postmaster is gone): starting it again")
            try:
                self.cluster.start()
            except Exception as exc:  # the watch outlives any one failure
                # Its last backends may still hold shared memory: the next look tries again.
                log.error("embedded PostgreSQL did not start again (%s); retrying", exc)
                continue
            self.restarts += 1
            log.warning("embedded PostgreSQL started again under %s", self.cluster.cluster_dir)
