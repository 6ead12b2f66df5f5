"""What mallcast's processes log: their own lines, not a line per job run, nothing personal.

uvicorn's access line carries the client's address and the query string; a shopper's address
is personal data, and an operator's `?device_id=` lookup would put a pseudonymous id in the log.
The access line keeps the method, the path and the status (rates and latencies are in
/metrics).
"""

from __future__ import annotations

import logging


class _PrivateAccessLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.protocols: '%s - "%s %s HTTP/%s" %d' % (client, method, path+query, ...)
        if isinstance(record.args, tuple) and len(record.args) == 5:
            _client, method, path, version, status = record.args
            record.args = ("-", method, str(path).partition("?")[0], version, status)
        return True


def private_access_log() -> None:
    """Idempotent: each process (uvicorn workers too) calls it before serving."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _PrivateAccessLine) for f in access.filters):
        access.addFilter(_PrivateAccessLine())


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # APScheduler says "Running job"/"executed successfully" at INFO for every run (a dozen
    # lines a minute); the jobs log what they did themselves, and failures at ERROR.
    if level != "debug":
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    private_access_log()
