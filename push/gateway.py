"""The FCM gateway: firebase-admin towards real FCM or the local server.

With `MALLCAST_FIREBASE_CREDENTIALS` (a service-account JSON file) messages go to FCM. Without,
they go to the local FCM-compatible server: the SDK is pointed at it the only ways it allows,
its send URL (the class attribute `messaging._MessagingService.FCM_URL`, read when the
messaging service of an app is created) and the `token_uri` of a service account made up for
it, so the SDK's own OAuth exchange, request building and error parsing all run. Its retries
are turned off: the outbox retries, honouring Retry-After, and counts every try.

Sending uses `send_each_async`, one message per call, on one event loop that lives as long as
the gateway (the SDK's httpx client is bound to the first loop that used it), in a thread of
its own; `submit` hands a push over from any thread and is told the verdict. Not the
synchronous `send_each`, although it costs less CPU per message: its HTTP client (urllib3's
retry) answers a 429 by sleeping the whole Retry-After inside the call, holding a sender for as
long as FCM asks (a minute, typically) and past the dispatcher's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import firebase_admin
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import _http_client, credentials, messaging
from firebase_admin._retry import HttpxRetry

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


@dataclass(frozen=True)
class Send:
    """A push handed to the gateway, with what to call when FCM has answered."""

    push: Push
    done: Callable[[Verdict | None, datetime], None]
    still_ours: Callable[[], bool] = lambda: True


def _answered(done: Callable[[Verdict | None, datetime], None], task: asyncio.Task[Any]) -> None:
    try:
        result = task.result()
    except Exception as exc:  # a bug here must not lose the delivery: it is retried
        result = Verdict("retry", error=f"{type(exc).__name__}: {exc}"[:500])
    done(result, datetime.now(UTC))


class FcmGateway:
    """Sends pushes one message at a time, up to `concurrency` in flight, never in batches: a
    slow or hung answer holds its own slot only (no head-of-line blocking)."""

    def __init__(
        self,
        *,
        credentials_file: Path | None = None,
        local_url: str | None = None,
        concurrency: int = 20,
        timeout_s: float = 30.0,
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
                credential,
                options={"httpTimeout": timeout_s},
                name=f"mallcast-{uuid.uuid4().hex[:8]}",
            )
            for _ in range(math.ceil(concurrency / APP_WINDOW))
        ]
        for app in self.apps:
            _without_sdk_retries(app, timeout_s)
        self.app = self.apps[0]
        share = math.ceil(concurrency / len(self.apps))
        self._slots = [asyncio.Semaphore(share) for _ in self.apps]
        self._load = [0] * len(self.apps)  # messages given to each app and not yet answered
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fcm", daemon=True)
        self._thread.start()

    def submit(self, sends: Sequence[Send]) -> None:
        """Send each push in the background; its `done(verdict, answered_at)` is called from
        the gateway's thread. Right before it goes out, a push is dropped (verdict None) when
        its `still_ours()` says the claim was lost, and not sent when it has expired
        (`expired`). One hop to the gateway's loop for the lot."""
        if sends:
            self._loop.call_soon_threadsafe(self._start, list(sends))

    def _start(self, sends: list[Send]) -> None:
        for send in sends:
            task = self._loop.create_task(self._deliver(send.push, send.still_ours))
            task.add_done_callback(functools.partial(_answered, send.done))

    def send(self, pushes: list[Push]) -> list[Verdict]:
        """Send and wait: one verdict per push, in order (benchmarks, tests, scripts)."""
        results: list[Verdict | None] = [None] * len(pushes)
        finished = threading.Semaphore(0)

        def keep(n: int) -> Callable[[Verdict | None, datetime], None]:
            def done(verdict: Verdict | None, _: datetime) -> None:
                results[n] = verdict
                finished.release()

            return done

        self.submit([Send(push, keep(n)) for n, push in enumerate(pushes)])
        for _ in pushes:
            finished.acquire()
        return [v or Verdict("retry", error="not sent") for v in results]

    async def _deliver(self, push: Push, still_ours: Callable[[], bool]) -> Verdict | None:
        lane = min(range(len(self.apps)), key=self._load.__getitem__)
        self._load[lane] += 1
        try:
            async with self._slots[lane]:
                # Checked when the message really goes out, not when it was claimed: a wait
                # for a slot must not turn into a push sent late or one another dispatcher owns.
                if not still_ours():
                    return None
                now = datetime.now(UTC)
                if push.expires_at <= now:
                    return Verdict("expired", error="the offer expired before it was sent")
                message = build_message(push, now)
                batch = await messaging.send_each_async([message], app=self.apps[lane])
                return verdict(batch.responses[0])
        finally:
            self._load[lane] -= 1

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        # delete_app closes the SDK's async client with asyncio.run() of its own; that client
        # belonged to the loop just stopped, so closing it may complain: the app goes anyway.
        for app in self.apps:
            with contextlib.suppress(RuntimeError):
                firebase_admin.delete_app(app)


def _without_sdk_retries(app: firebase_admin.App, timeout_s: float) -> None:
    """firebase-admin retries 500 and 503 itself, up to four times, ignoring Retry-After and
    unseen by our metrics; the outbox retries instead, honouring it, and counts each try. The
    SDK offers no option for this: its messaging service's async client is replaced with one
    of its own kind that does not retry."""
    service = messaging._get_messaging_service(app)
    service._async_client = _http_client.HttpxAsyncClient(
        credential=service._credential,
        timeout=timeout_s,
        retry_config=HttpxRetry(max_retries=0, status_forcelist=[]),
    )


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
