"""Console sessions: only an admin key opens one; it names the key, expires, and dies with the
key's revocation."""

from __future__ import annotations

from creditkit import CreditKit, ManualClock
from creditkit.keys.schemas import Scope
from creditkit.keys.service import CONSOLE_SESSION_TTL_SECONDS, KEY_CACHE_SECONDS


def test_an_admin_key_opens_a_console_session_naming_it(ck: CreditKit) -> None:
    created = ck.keys.create_key("operator", Scope.ADMIN)
    token = ck.keys.issue_console_session(created.secret)
    assert token is not None and created.secret not in token
    caller = ck.keys.verify_console_session(token)
    assert caller is not None
    assert (caller.key_id, caller.scope) == (created.key.key_id, Scope.ADMIN)


def test_no_other_key_or_token_opens_one(ck: CreditKit) -> None:
    ck.keys.create_key("admin", Scope.ADMIN)  # exists, but is not the one presented
    write = ck.keys.create_key("backend", Scope.WRITE)
    session = ck.keys.issue_session("u1").token
    for presented in (write.secret, session, "ck_secret_unknown", ""):
        assert ck.keys.issue_console_session(presented) is None


def test_a_tampered_or_other_purpose_token_is_refused(ck: CreditKit) -> None:
    token = ck.keys.issue_console_session(ck.keys.create_key("a", Scope.ADMIN).secret)
    assert token is not None
    body, _, signature = token.partition(".")
    assert ck.keys.verify_console_session(f"{body}x.{signature}") is None
    # Another first character: it carries six whole bits of the signature, so the bytes differ
    # (a last character may carry padding bits, and "AA" could leave them as they were).
    tampered = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert ck.keys.verify_console_session(f"{body}.{tampered}") is None
    # A customer session token is signed with the same secret, for another purpose.
    customer_token = ck.keys.issue_session("u1").token
    assert ck.keys.verify_console_session(customer_token) is None
    assert ck.keys.verify_console_session("ckc_" + customer_token[4:]) is None


def test_it_expires(ck: CreditKit, clock: ManualClock) -> None:
    token = ck.keys.issue_console_session(ck.keys.create_key("a", Scope.ADMIN).secret)
    assert token is not None
    clock.advance(seconds=CONSOLE_SESSION_TTL_SECONDS - 1)
    assert ck.keys.verify_console_session(token) is not None
    clock.advance(seconds=1)
    assert ck.keys.verify_console_session(token) is None


def test_revoking_the_key_ends_it_in_every_process(
    ck: CreditKit, make_kit: object, clock: ManualClock
) -> None:
    created = ck.keys.create_key("a", Scope.ADMIN)
    token = ck.keys.issue_console_session(created.secret)
    assert token is not None
    other_process = make_kit()  # type: ignore[operator]
    assert other_process.keys.verify_console_session(token) is not None  # now cached there
    ck.keys.revoke(created.key.key_id)
    assert ck.keys.verify_console_session(token) is None  # this process: at once
    clock.advance(seconds=KEY_CACHE_SECONDS)
    assert other_process.keys.verify_console_session(token) is None  # others: within the cache


def test_signatures_differ_by_purpose(ck: CreditKit) -> None:
    assert ck.keys.sign("csrf", "x") == ck.keys.sign("csrf", "x")
    assert ck.keys.sign("csrf", "x") != ck.keys.sign("notice", "x")
