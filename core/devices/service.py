"""Shopper devices: registration, consents, token revocation and erasure.

Location consent gates everything: without it no ping is processed or stored, and withdrawing
it forgets where the device is at once (the caller drops its presence: `DeviceUpdate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.devices.models import Device
from core.devices.schemas import Consents, DeviceCreate, DeviceOut, DevicePatch, QuietHours
from core.erasures import record_device
from core.members.service import unlink_device


def register_device(session: Session, data: DeviceCreate) -> Device:
    device = Device(
        platform=data.platform,
        app_version=data.app_version,
        locale=data.locale,
        fcm_token=data.fcm_token,
        fcm_fid=data.fcm_fid,
        consent_location=data.consents.location,
        consent_marketing_push=data.consents.marketing_push,
        consent_loyalty=data.consents.loyalty,
        interests=_clean_interests(data.interests),
        loyalty_tier=data.loyalty_tier,
        quiet_hours=data.quiet_hours.model_dump() if data.quiet_hours else None,
    )
    session.add(device)
    session.flush()
    _claim_addresses(session, device)
    return device


@dataclass(frozen=True)
class DeviceUpdate:
    device: Device
    location_withdrawn: bool  # consent to location was just withdrawn: forget its presence


def update_device(session: Session, device: Device, patch: DevicePatch) -> DeviceUpdate:
    fields = patch.model_fields_set
    withdrawn = False
    if "app_version" in fields and patch.app_version is not None:
        device.app_version = patch.app_version
    if "locale" in fields and patch.locale is not None:
        device.locale = patch.locale
    if "fcm_token" in fields:
        device.fcm_token = patch.fcm_token
    if "fcm_fid" in fields:
        device.fcm_fid = patch.fcm_fid
    if "interests" in fields and patch.interests is not None:
        device.interests = _clean_interests(patch.interests)
    if "loyalty_tier" in fields:
        device.loyalty_tier = patch.loyalty_tier
    if "quiet_hours" in fields:
        device.quiet_hours = patch.quiet_hours.model_dump() if patch.quiet_hours else None
    if patch.consents is not None:
        if patch.consents.location is not None:
            withdrawn = device.consent_location and not patch.consents.location
            device.consent_location = patch.consents.location
        if patch.consents.marketing_push is not None:
            device.consent_marketing_push = patch.consents.marketing_push
        if patch.consents.loyalty is not None:
            device.consent_loyalty = patch.consents.loyalty
            if not patch.consents.loyalty:
                unlink_device(session, device.id)  # consent withdrawn: the link goes at once
        device.consents_updated_at = utcnow()
    session.flush()
    if {"fcm_token", "fcm_fid"} & fields:
        _claim_addresses(session, device)
    return DeviceUpdate(device, withdrawn)


def _claim_addresses(session: Session, device: Device) -> None:
    """An FCM token or installation ID is one app installation's. A device registering one that
    another device record holds (the app registered again after its storage was cleared, or
    twice at first launch) takes it from that record: the phone gets one push, not one per
    record, and each record's caps count for it alone. Two registrations of one address at
    once take turns on a lock of that address."""
    for column in (Device.fcm_token, Device.fcm_fid):
        address = getattr(device, column.key)
        if address is None:
            continue
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(address))))
        session.execute(
            update(Device).where(column == address, Device.id != device.id).values({column: None})
        )


def rotate_token(session: Session, device: Device) -> Device:
    """Revoke every token issued so far; the caller signs a new one."""
    device.token_version += 1
    session.flush()
    return device


def erase_device(session: Session, device: Device) -> None:
    """Erase the device with everything about it (pings, presence, events: by cascade), and
    say so in the erasure ledger (a restored backup erases it again)."""
    record_device(session, device.id)
    session.delete(device)
    session.flush()


def device_out(device: Device, *, member_linked: bool = False) -> DeviceOut:
    return DeviceOut(
        device_id=device.id,
        platform=device.platform,
        app_version=device.app_version,
        locale=device.locale,
        has_fcm_token=device.fcm_token is not None,
        has_fcm_fid=device.fcm_fid is not None,
        member_linked=member_linked,
        consents=Consents(
            location=device.consent_location,
            marketing_push=device.consent_marketing_push,
            loyalty=device.consent_loyalty,
        ),
        interests=list(device.interests),
        loyalty_tier=device.loyalty_tier,
        quiet_hours=QuietHours.model_validate(device.quiet_hours) if device.quiet_hours else None,
        created_at=device.created_at,
    )


def _clean_interests(interests: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for interest in interests:
        value = interest.strip().lower()[:64]
        if value:
            seen.setdefault(value)
    return list(seen)
