"""What delivers pushes in a running process: the gateway (towards FCM, or the local server
started here when no Firebase credentials are configured) and the dispatcher thread."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from api.metrics import Metrics
from core.settings import Settings
from push.dispatcher import Dispatcher
from push.fcm_server import FakeFCM
from push.gateway import FcmGateway
from push.outbox import RetryPolicy

log = logging.getLogger("mallcast.push")


class PushRuntime:
    def __init__(self, settings: Settings, engine: Engine, metrics: Metrics | None = None) -> None:
        self.local: FakeFCM | None = None
        if settings.firebase_credentials is None and settings.fcm_url:
            self.gateway = FcmGateway(
                local_url=settings.fcm_url, concurrency=settings.fcm_concurrency
            )
        elif settings.firebase_credentials is None:
            self.local = FakeFCM(settings.fcm_local_port).start()
            self.gateway = FcmGateway(
                local_url=self.local.url, concurrency=settings.fcm_concurrency
            )
            log.info(
                "no Firebase credentials: pushes go to the local FCM server at %s", self.local.url
            )
        else:
            self.gateway = FcmGateway(
                credentials_file=settings.firebase_credentials,
                concurrency=settings.fcm_concurrency,
            )
        policy = RetryPolicy(
            quota_s=settings.push_quota_backoff_s, max_attempts=settings.push_max_attempts
        )
        self.dispatcher = Dispatcher(
            engine,
            self.gateway,
            lease_s=settings.push_lease_s,
            policy=policy,
            on_tick=metrics.count_tick if metrics else None,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> PushRuntime:
        self._thread = self.dispatcher.start_thread()
        return self

    def stop(self) -> None:
        self.dispatcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.gateway.close()
        if self.local is not None:
            self.local.stop()
