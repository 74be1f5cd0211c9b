from datetime import timedelta

import pytest

from creditkit import CreditKit, GrantSource, InsufficientCredits, InvalidRequest, ManualClock


def test_only_transferable_credits_move(ck: CreditKit) -> None:
    ck.grant("u1", 50, source="allowance", idempotency_key="g1")
    ck.grant("u1", 5, source="promo", idempotency_key="g2")
    purchase = ck.grant("u1", 20, source="purchase", idempotency_key="g3")
    with pytest.raises(InsufficientCredits) as short:
        ck.transfer("u1", "u2", 21, idempotency_key="t1")
    assert (short.value.available, short.value.required) == (20, 21)
    transfer = ck.transfer("u1", "u2", 20, idempotency_key="t2")
    assert [(d.grant_id, d.amount) for d in transfer.draws] == [(purchase.id, 20)]
    assert ck.balance("u1").available == 55
    received = ck.balance("u2").grants
    assert [(g.grant_id, g.source, g.remaining) for g in received] == [
        (transfer.grant_id, GrantSource.GIFT, 20)
    ]
    assert ck.audit().ok


def test_gifting_never_extends_a_credits_life(ck: CreditKit, clock: ManualClock) -> None:
    soon = clock() + timedelta(days=2)
    ck.grant("u1", 5, source="gift", expires_at=soon, idempotency_key="g1")
    ck.grant("u1", 5, source="purchase", expires_at=soon + timedelta(days=5), idempotency_key="g2")
    ck.grant("u1", 5, source="purchase", idempotency_key="g3")
    transfer = ck.transfer("u1", "w1", 12, idempotency_key="t1")
    assert transfer.expires_at == soon
    grant = ck.balance("w1").grants[0]
    assert (grant.expires_at, grant.remaining, grant.transferable) == (soon, 12, True)


def test_all_never_expiring_stays_never_expiring(ck: CreditKit) -> None:
    ck.grant("u1", 5, idempotency_key="g1")
    assert ck.transfer("u1", "u2", 5, idempotency_key="t1").expires_at is None


def test_both_sides_see_the_transfer(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    ck.transfer("u1", "u2", 4, idempotency_key="t1")
    sent = ck.history("u1").items[0]
    received = ck.history("u2").items[0]
    assert (sent.kind, sent.available_change, sent.counterparty) == ("transfer", -4, "u2")
    assert (received.kind, received.available_change, received.counterparty) == (
        "transfer",
        4,
        "u1",
    )


def test_transfer_to_self_is_refused(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ck.transfer("u1", "u1", 1, idempotency_key="t1")
    assert refused.value.field == "to_customer"
