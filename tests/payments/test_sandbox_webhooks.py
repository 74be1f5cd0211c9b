"""The sandbox's webhooks cannot be forged: a secret random per database, session ids of 128
random bits, unsigned, forged, stale and replayed webhooks refused with nothing granted. Also
the fixes around a checkout's end: paying after a decline, refusing a refund of an unpaid
payment, and the packs a customer can buy now."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from creditkit import CreditKit, ManualClock
from creditkit.notify.sealing import Sealer
from creditkit.payments import (
    CARD_DECLINED,
    CARD_SUCCEEDS,
    CheckoutClosed,
    PaymentStatus,
    RefundRefused,
    WebhookRejected,
)
from creditkit.payments.providers import SIGNATURE_HEADER, signature_header
from creditkit.payments.sandbox import SIGNATURE_TOLERANCE_SECONDS, WEBHOOK_SECRET_NAME
from creditkit.store.tables import service_secrets

#: The free plan's allowance (tests/payments/conftest.py): every balance starts with it.
ALLOWANCE = 10


def _checkout(kit: CreditKit, key: str, pack: str = "small") -> tuple[int, str]:
    session = kit.checkout(
        "alice",
        pack=pack,
        success_url="https://app.test/paid",
        cancel_url="https://app.test/cancel",
        idempotency_key=key,
    )
    assert session.session_id is not None
    return session.payment_id, session.session_id


def _completed(session_id: str) -> bytes:
    body = {
        "id": f"evt_forged_{session_id}",
        "type": "checkout.session.completed",
        "data": {"object": {"id": session_id, "payment_status": "paid"}},
    }
    return json.dumps(body).encode()


def _stored_secret(database_url: str) -> str:
    """The sandbox's webhook secret as the database keeps it, opened with the ledger's key (the
    environment's, or the key file beside a SQLite database): it is sealed at rest."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            sealed: str = connection.execute(
                sa.select(service_secrets.c.secret_sealed).where(
                    service_secrets.c.name == WEBHOOK_SECRET_NAME
                )
            ).scalar_one()
        sqlite_path = engine.url.database if engine.dialect.name == "sqlite" else None
    finally:
        engine.dispose()
    return Sealer.of(None, sqlite_path).unseal(sealed)


def test_forged_and_unsigned_webhooks_grant_nothing(kit: CreditKit) -> None:
    payment_id, session_id = _checkout(kit, "forge-1")
    payload = _completed(session_id)
    # The old constant secret, a made-up one, and none at all.
    for headers in (
        {SIGNATURE_HEADER: signature_header(payload, "whsec_sandbox", 0)},
        {SIGNATURE_HEADER: signature_header(payload, "whsec_guess", 1)},
        {},
    ):
        with pytest.raises(WebhookRejected):
            kit.handle_webhook("sandbox", payload, headers)
    assert kit.payment(payment_id).status is PaymentStatus.PENDING
    assert kit.balance("alice").available == ALLOWANCE


def test_the_secret_is_random_per_database_and_shared_by_its_kits(
    kit: CreditKit, make_kit: object, database_url: str, catalog: object
) -> None:
    secret = _stored_secret(database_url)
    assert secret.startswith("whsec_") and len(secret) > 40
    payment_id, session_id = _checkout(kit, "shared-1")
    payload = _completed(session_id)
    signed_now = int(kit.now().timestamp())
    headers = {SIGNATURE_HEADER: signature_header(payload, secret, signed_now)}
    other = make_kit(catalog=catalog)  # type: ignore[operator]
    assert other.handle_webhook("sandbox", payload, headers).applied  # another process agrees
    assert kit.payment(payment_id).status is PaymentStatus.SUCCEEDED
    replay = kit.handle_webhook("sandbox", payload, headers)
    assert not replay.applied
    assert kit.balance("alice").available == ALLOWANCE + 300  # granted once


def test_a_stale_signature_is_refused(
    kit: CreditKit, database_url: str, clock: ManualClock
) -> None:
    payment_id, session_id = _checkout(kit, "stale-1")
    payload = _completed(session_id)
    signed_at = int(kit.now().timestamp())
    headers = {SIGNATURE_HEADER: signature_header(payload, _stored_secret(database_url), signed_at)}
    clock.advance(seconds=SIGNATURE_TOLERANCE_SECONDS + 1)
    with pytest.raises(WebhookRejected) as raised:
        kit.handle_webhook("sandbox", payload, headers)
    assert "old" in raised.value.reason
    assert kit.payment(payment_id).status is PaymentStatus.PENDING
    assert kit.balance("alice").available == ALLOWANCE


def test_session_ids_carry_128_random_bits(kit: CreditKit) -> None:
    ids = {_checkout(kit, f"random-{index}")[1] for index in range(3)}
    assert len(ids) == 3
    assert all(len(session_id.removeprefix("cs_sandbox_")) == 32 for session_id in ids)


def test_paying_after_a_decline_says_nothing_was_paid(kit: CreditKit) -> None:
    payment_id, session_id = _checkout(kit, "decline-1")
    assert kit.complete_sandbox_checkout(session_id, card=CARD_DECLINED).applied
    with pytest.raises(CheckoutClosed) as raised:
        kit.complete_sandbox_checkout(session_id, card=CARD_SUCCEEDS)
    assert "card_declined" in str(raised.value) and "nothing was charged" in str(raised.value)
    payment = kit.payment(payment_id)
    assert (payment.status, payment.grant_id) == (PaymentStatus.FAILED, None)
    assert kit.balance("alice").available == ALLOWANCE
    assert kit.receipts("alice", limit=10, cursor=None).items == ()


def test_refusing_to_refund_an_unpaid_pack_names_the_reason(kit: CreditKit) -> None:
    pending_id, _ = _checkout(kit, "refund-pending")
    failed_id, failed_session = _checkout(kit, "refund-failed", pack="once")
    kit.complete_sandbox_checkout(failed_session, card=CARD_DECLINED)
    for payment_id, said in ((pending_id, "pending"), (failed_id, "failed (card_declined)")):
        with pytest.raises(RefundRefused) as raised:
            kit.refund(payment_id)
        assert raised.value.reason == f"the payment is {said}: nothing was paid to refund"


def test_packs_for_sale_leave_out_free_packs_and_used_limits(kit: CreditKit) -> None:
    assert [pack.id for pack in kit.packs_for_sale("alice")] == ["small", "once"]
    _, session_id = _checkout(kit, "limit-1", pack="once")
    kit.complete_sandbox_checkout(session_id)
    assert [pack.id for pack in kit.packs_for_sale("alice")] == ["small"]
