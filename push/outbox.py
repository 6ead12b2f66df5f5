"""The outbox: pushes written in the transaction of their decision, sent by whoever claims them
(push.dispatcher), retried by this policy.

States of a delivery:

    pending --claim--> sending --FCM accepted--> sent
                          |  --retryable error--> retry --(next_attempt_at)--> sending ...
                          |  --token dead--> dead_token      --payload refused--> failed
                          |  --offer expired before sending--> expired
                          |  --device has no address--> no_address
                          +--(dispatcher died: lease runs out)--> claimed again
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from push.errors import Verdict
from push.models import Delivery

log = logging.getLogger("mallcast.push")


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 2.0
    max_s: float = 600.0
    quota_s: float = 60.0  # FCM asks for at least a minute after a 429
    max_attempts: int = 8

    def delay_s(self, attempts: int, verdict: Verdict, rng: random.Random) -> float:
        """Exponential backoff with full jitter, never sooner than Retry-After or the quota."""
        backoff = min(self.max_s, self.base_s * 2.0 ** max(0, attempts - 1)) * rng.uniform(0.5, 1.5)
        if verdict.quota:
            backoff = max(backoff, self.quota_s)
        if verdict.retry_after_s is not None:
            backoff = max(backoff, verdict.retry_after_s)
        return backoff


def enqueue(
    session: Session,
    *,
    decision_id: int,
    device_id: uuid.UUID,
    title: str,
    body: str,
    data: dict[str, str],
    collapse_key: str,
    image_url: str | None,
    created_at: datetime,
    ttl: timedelta,
) -> Delivery:
    """Add a delivery to the caller's transaction (the one storing the decision)."""
    delivery = Delivery(
        decision_id=decision_id,
        device_id=device_id,
        state="pending",
        title=title,
        body=body,
        data=data,
        collapse_key=collapse_key,
        image_url=image_url,
        created_at=created_at,
        expires_at=created_at + ttl,
        next_attempt_at=created_at,
        attempts=0,
    )
    session.add(delivery)
    return delivery
