"""The FCM message a promotion becomes. Pure; the push gateway sends it, submission measures it.

FCM refuses messages whose payload (notification and data) exceeds 4096 bytes, so a promotion
is measured at submission in every language it has, with the longest ids and code a push can
carry, and refused there rather than failing later for every shopper.
"""

from __future__ import annotations

import json
from typing import Any

FCM_PAYLOAD_LIMIT = 4096
_LONGEST_ID = str(2**63 - 1)
_LONGEST_CODE = "X" * 12


def message(
    *,
    title: str,
    body: str,
    promotion_id: int | str,
    decision_id: int | str,
    deep_link: str | None,
    image_url: str | None,
    code: str | None,
    ttl_s: int = 3600,
) -> dict[str, Any]:
    """The FCM HTTP v1 message, without its address (token or fid)."""
    data = {"decision_id": str(decision_id), "promotion_id": str(promotion_id)}
    if deep_link:
        data["deep_link"] = deep_link
    if code:
        data["code"] = code
    notification = {"title": title, "body": body}
    if image_url:
        notification["image"] = image_url
    collapse = f"promotion-{promotion_id}"
    return {
        "notification": notification,
        "data": data,
        "android": {"priority": "high", "ttl": f"{ttl_s}s", "collapse_key": collapse},
        "apns": {"headers": {"apns-priority": "10", "apns-collapse-id": collapse}},
    }


def payload_bytes(message_: dict[str, Any]) -> int:
    """Size of what FCM counts: the notification and the data."""
    counted = {"notification": message_["notification"], "data": message_["data"]}
    return len(json.dumps(counted, ensure_ascii=False, separators=(",", ":")).encode())


def largest_payload(
    texts: dict[str, tuple[str, str]], *, deep_link: str | None, image_url: str | None
) -> tuple[str, int]:
    """(locale, bytes) of the largest message among the promotion's languages."""
    sizes = {
        locale: payload_bytes(
            message(
                title=title,
                body=body,
                promotion_id=_LONGEST_ID,
                decision_id=_LONGEST_ID,
                deep_link=deep_link,
                image_url=image_url,
                code=_LONGEST_CODE,
            )
        )
        for locale, (title, body) in texts.items()
    }
    locale = max(sizes, key=lambda k: sizes[k])
    return locale, sizes[locale]


def localized(title: str, body: str, translations: dict[str, Any], locale: str) -> tuple[str, str]:
    """The text for a device's locale: exact match ("zh-CN"), then the language ("zh"), then
    the promotion's own text."""
    wanted = locale.lower()
    by_locale = {key.lower(): value for key, value in translations.items()}
    for key in (wanted, wanted.split("-")[0]):
        if key in by_locale:
            return by_locale[key]["title"], by_locale[key]["body"]
    for key, value in by_locale.items():
        if key.split("-")[0] == wanted.split("-")[0]:
            return value["title"], value["body"]
    return title, body
