"""The FCM gateway: firebase-admin, unmodified, towards real FCM or the local server.

With `MALLCAST_FIREBASE_CREDENTIALS` (a service-account JSON file) messages go to FCM. Without,
they go to the local FCM-compatible server: the SDK is pointed at it the only ways it allows,
its send URL (the class attribute `messaging._MessagingService.FCM_URL`, read when the
messaging service of an app is created) and the `token_uri` of a service account made up for
it, so the SDK's own OAuth exchange, request building, retries and error parsing all run.

Sending uses `send_each_async` on one event loop that lives as long as the gateway (the SDK's
httpx client is bound to the first loop that used it), in a thread of its own; callers block on
`send` from any thread. Not the synchronous `send_each`, although it costs less CPU per message:
its HTTP client (urllib3's retry) answers a 429 by sleeping the whole Retry-After inside the
call, holding a sender for as long as FCM asks (a minute, typically) and past the dispatcher's
lease; the async client leaves 429 to the outbox, which schedules the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import uuid
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import firebase_admin
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import credentials, messaging

from push.errors import Verdict, verdict

FCM_BATCH_LIMIT = 500  # send_each/send_each_async accept at most 500 messages
APP_WINDOW = 4  # messages in flight per SDK app (and its HTTP client)
LOCAL_PROJECT = "mallcast-local"


@dataclass(frozen=True)
class Push:
    """One notification to one device, as the outbox holds it."""

    address: str
    address_kind: str  # token | fid
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str
    expires_at: datetime
    image_url: str | None = None


class FcmGateway:
    def __init__(
        self,
        *,
        credentials_file: Path | None = None,
        local_url: str | None = None,
        concurrency: int = 20,
    ) -> None:
        self.concurrency = concurrency
        if credentials_file is None and local_url is None:
            raise ValueError("either Firebase credentials or a local FCM server URL")
        if credentials_file is not None:
            credential = credentials.Certificate(str(credentials_file))
        else:
            assert local_url is not None
            # The send URL is a class attribute: the whole process talks to the local server.
            messaging._MessagingService.FCM_URL = (
                local_url.rstrip("/") + "/v1/projects/{0}/messages:send"
            )
            credential = credentials.Certificate(local_service_account(local_url))
        self.local_url = local_url
        # Several SDK apps, each with its own HTTP client and a share of the window: httpx
        # checks every pooled connection of a client on each request (a third of the CPU per
        # message with 20 connections in one pool, py-spy), so small pools cost less.
        self.apps = [
            firebase_admin.initialize_app(
                credential, options={"httpTimeout": 30}, name=f"mallcast-{uuid.uuid4().hex[:8]}"
            )
            for _ in range(math.ceil(concurrency / APP_WINDOW))
        ]
        self.app = self.apps[0]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fcm", daemon=True)
        self._thread.start()

    def send(self, pushes: list[Push], *, now: datetime | None = None) -> list[Verdict]:
        """Send up to 500 pushes in one call; one verdict per push, in order."""
        if not pushes:
            return []
        if len(pushes) > FCM_BATCH_LIMIT:
            raise ValueError(f"at most {FCM_BATCH_LIMIT} messages per call")
        now = now or datetime.now(UTC)
        built = [build_message(push, now) for push in pushes]
        future: Future[list[messaging.SendResponse]] = asyncio.run_coroutine_threadsafe(
            self._send_chunked(built), self._loop
        )
        return [verdict(response) for response in future.result()]

    async def _send_chunked(self, built: list[messaging.Message]) -> list[messaging.SendResponse]:
        # send_each_async starts every message of a call at once, but the SDK's httpx pool keeps
        # only 20 connections alive: 500 at once means connections opened and closed all the
        # time. A window of `concurrency` messages in flight, shared out over the apps, keeps
        # their connections busy and reused, and, unlike fixed chunks, never waits for the
        # slowest answer of a chunk before starting the next message.
        share = math.ceil(self.concurrency / len(self.apps))
        windows = [asyncio.Semaphore(share) for _ in self.apps]

        async def one(n: int, message: messaging.Message) -> messaging.SendResponse:
            lane = n % len(self.apps)
            async with windows[lane]:
                batch = await messaging.send_each_async([message], app=self.apps[lane])
                return batch.responses[0]

        return list(await asyncio.gather(*(one(n, m) for n, m in enumerate(built))))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        # delete_app closes the SDK's async client with asyncio.run() of its own; that client
        # belonged to the loop just stopped, so closing it may complain: the app goes anyway.
        for app in self.apps:
            with contextlib.suppress(RuntimeError):
                firebase_admin.delete_app(app)


def build_message(push: Push, now: datetime) -> messaging.Message:
    ttl = max(timedelta(seconds=0), push.expires_at - now)
    android = messaging.AndroidConfig(
        priority="high",  # a user-visible notification: FCM allows high priority for it
        ttl=ttl,
        collapse_key=push.collapse_key,
        notification=messaging.AndroidNotification(tag=push.collapse_key),
    )
    apns = messaging.APNSConfig(
        headers={
            "apns-priority": "10",
            "apns-expiration": str(int(push.expires_at.timestamp())),
            "apns-collapse-id": push.collapse_key,
        },
    )
    address = {"fid": push.address} if push.address_kind == "fid" else {"token": push.address}
    with warnings.catch_warnings():
        # firebase-admin 7.5+ deprecates `token` for `fid`; apps registered with a token still
        # have only that, so both are supported.
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(
            notification=messaging.Notification(push.title, push.body, push.image_url),
            data=push.data,
            android=android,
            apns=apns,
            **address,
        )


_LOCAL_KEY: bytes | None = None
_LOCAL_KEY_LOCK = threading.Lock()


def local_service_account(local_url: str) -> dict[str, Any]:
    """A service account for the local server: a real RSA key (the SDK signs a real JWT)."""
    global _LOCAL_KEY
    with _LOCAL_KEY_LOCK:
        if _LOCAL_KEY is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _LOCAL_KEY = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    return {
        "type": "service_account",
        "project_id": LOCAL_PROJECT,
        "private_key_id": "local",
        "private_key": _LOCAL_KEY.decode(),
        "client_email": f"mallcast@{LOCAL_PROJECT}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": local_url.rstrip("/") + "/token",
    }


def credentials_project(path: Path) -> str | None:
    return str(json.loads(path.read_text()).get("project_id") or "") or None
