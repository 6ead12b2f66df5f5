"""Staff accounts on the real database: links, passwords, sign-in, lockout, sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from access import staff, throttle
from access.models import SigninThrottle, StaffLink, StaffSession, StaffUser
from core.db import Database, utcnow
from core.errors import Conflict, InvalidInput, NotFound, Unauthorized

PASSWORD = "a long enough password"
HERE, STRANGER = "192.0.2.10", "198.51.100.7"  # documentation addresses


def test_a_new_account_signs_in_only_after_its_link_set_a_password(
    db: Database, mall: dict[str, Any]
) -> None:
    with db.sessions() as session:
        issued = staff.create_user(session, email=" Ops@Mall.example ", role="operator",
                                   mall_ids=[mall["id"]])  # fmt: skip
        assert issued.user.email == "ops@mall.example"
        assert issued.user.password_hash is None
        with pytest.raises(Unauthorized):
            staff.sign_in(session, "ops@mall.example", "", address=HERE)
        assert staff.link_user(session, issued.token) is not None
        staff.set_password(session, issued.token, PASSWORD)
        assert staff.link_user(session, issued.token) is None  # one time only
        with pytest.raises(NotFound):
            staff.set_password(session, issued.token, "another long password")
        signed = staff.sign_in(session, "OPS@mall.example", PASSWORD, address=HERE)
        found = staff.session_user(session, signed.token)
        assert found is not None
        assert found[0].id == issued.user.id
        assert found[1].csrf_token == signed.csrf_token
        # Only digests are kept: neither the link's token nor the cookie's is in the database.
        stored = session.scalars(select(StaffSession.token_sha256)).all()
        assert signed.token.encode() not in stored
        hashed = session.scalar(select(StaffUser.password_hash).where(StaffUser.id == found[0].id))
        assert hashed is not None
        assert hashed.startswith("$argon2id$")


def test_scopes_and_emails_are_checked_like_api_keys(db: Database, mall: dict[str, Any]) -> None:
    with db.sessions() as session:
        with pytest.raises(InvalidInput):
            staff.create_user(session, email="not-an-email", role="operator")
        with pytest.raises(NotFound):
            staff.create_user(session, email="a@b.example", role="operator", mall_ids=[999])
        with pytest.raises(InvalidInput):
            staff.create_user(session, email="a@b.example", role="tenant")
        with pytest.raises(InvalidInput):
            staff.create_user(session, email="a@b.example", role="admin")
        staff.create_user(session, email="a@b.example", role="operator")
        with pytest.raises(Conflict):
            staff.create_user(session, email="A@B.example", role="operator")


def test_short_and_huge_passwords_are_refused(db: Database) -> None:
    with db.sessions() as session:
        issued = staff.create_user(session, email="a@b.example", role="operator")
        for password in ("short", "x" * (staff.MAX_PASSWORD + 1)):
            with pytest.raises(InvalidInput) as refused:
                staff.set_password(session, issued.token, password)
            assert refused.value.details == {"field": "password"}


def test_wrong_passwords_hold_back_the_address_they_come_from_not_the_account_s_owner(
    db: Database,
) -> None:
    # Thirty wrong passwords for someone else's account, from one address: that address is held
    # back (the right password too, with the same answer), and the owner signs in from theirs.
    with db.sessions() as session:
        user = staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        for _ in range(30):
            with pytest.raises(Unauthorized):
                staff.sign_in(session, "a@b.example", "wrong password!", address=STRANGER)
        with pytest.raises(Unauthorized) as held:
            staff.sign_in(session, "a@b.example", PASSWORD, address=STRANGER)
        assert held.value.message == staff.SIGN_IN_REFUSED
        assert staff.sign_in(session, "a@b.example", PASSWORD, address=HERE).user.id == user.id
        # The hold ends by itself.
        session.execute(update(SigninThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
        assert staff.sign_in(session, "a@b.example", PASSWORD, address=STRANGER).user.id == user.id


def test_a_script_trying_many_accounts_from_one_address_is_held_back_there(db: Database) -> None:
    with db.sessions() as session:
        staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        for i in range(throttle.PER_ADDRESS):
            with pytest.raises(Unauthorized):
                staff.sign_in(session, f"user{i}@b.example", "a guess!!!", address=STRANGER)
        with pytest.raises(Unauthorized):
            staff.sign_in(session, "a@b.example", PASSWORD, address=STRANGER)
        assert staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)


def test_a_right_password_clears_the_count_of_wrong_ones(db: Database) -> None:
    with db.sessions() as session:
        staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        for _ in range(3):
            for _ in range(throttle.PER_ACCOUNT - 1):
                with pytest.raises(Unauthorized):
                    staff.sign_in(session, "a@b.example", "wrong password!", address=HERE)
            staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)


def test_an_unknown_email_a_wrong_password_and_a_held_address_say_the_same(db: Database) -> None:
    with db.sessions() as session:
        staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        answers = []
        for email in ("a@b.example", "nobody@b.example", "not an email"):
            with pytest.raises(Unauthorized) as refused:
                staff.sign_in(session, email, "wrong password!", address=HERE)
            answers.append((refused.value.status, refused.value.code, refused.value.message))
        for _ in range(throttle.PER_ACCOUNT):
            with pytest.raises(Unauthorized):
                staff.sign_in(session, "a@b.example", "wrong password!", address=STRANGER)
        with pytest.raises(Unauthorized) as held:
            staff.sign_in(session, "a@b.example", PASSWORD, address=STRANGER)
        answers.append((held.value.status, held.value.code, held.value.message))
        assert len(set(answers)) == 1


def test_sessions_expire_end_on_sign_out_and_on_a_password_reset(db: Database) -> None:
    with db.sessions() as session:
        staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        first = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        second = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        staff.sign_out(session, first.token)
        assert staff.session_user(session, first.token) is None
        assert staff.session_user(session, second.token) is not None

        session.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert staff.session_user(session, second.token) is None
        assert staff.forget_expired(session) == 1

        third = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        link = staff.reset_link(session, "a@b.example")
        staff.set_password(session, link.token, "a brand new password")
        assert staff.session_user(session, third.token) is None


def test_a_new_link_voids_the_earlier_one_and_deleting_the_account_ends_everything(
    db: Database,
) -> None:
    with db.sessions() as session:
        issued = staff.create_user(session, email="a@b.example", role="operator")
        again = staff.reset_link(session, "a@b.example")
        assert staff.link_user(session, issued.token) is None
        assert staff.link_user(session, again.token) is not None
        staff.set_password(session, again.token, PASSWORD)
        signed = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        staff.delete_user(session, "a@b.example")
        session.expire_all()
        assert staff.session_user(session, signed.token) is None
        assert session.scalars(select(StaffLink)).all() == []


def test_an_expired_link_cannot_set_a_password(db: Database) -> None:
    with db.sessions() as session:
        issued = staff.create_user(session, email="a@b.example", role="operator", link_hours=1)
        session.execute(update(StaffLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        with pytest.raises(NotFound):
            staff.set_password(session, issued.token, PASSWORD)


def test_the_scheduled_job_deletes_ended_sessions_only(db: Database, client: Any) -> None:
    from tests.support.api import jobs_for

    with db.sessions() as session:
        staff.ensure_user(session, email="a@b.example", password=PASSWORD, role="operator")
        ended = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        live = staff.sign_in(session, "a@b.example", PASSWORD, address=HERE)
        session.execute(update(StaffSession)
                        .where(StaffSession.token_sha256 == staff._digest(ended.token))
                        .values(expires_at=utcnow() - timedelta(minutes=1)))  # fmt: skip
        session.commit()
    assert jobs_for(client).console_sessions() == 1
    assert jobs_for(client).console_sessions() == 0
    with db.sessions() as session:
        assert staff.session_user(session, live.token) is not None
