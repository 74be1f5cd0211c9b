"""``post_refund``: what is left of a grant goes back to issuance, once per key, under the
customer's lock, balanced, with the audit clean."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest, TransactionKind
from creditkit.store.unit_of_work import UnitOfWork


def _refund(ck: CreditKit, customer: str, key: str, grant_id: int) -> int:
    def work(context: UnitOfWork) -> int:
        return ck._ledger.post_refund(
            context.connection, context.customers[customer], key, grant_id, context.now, {}
        )

    return ck._ledger.locked_write([customer], work)


def test_a_refund_takes_back_what_is_left_of_the_grant_and_nothing_spent(ck: CreditKit) -> None:
    pack = ck.grant("u1", 100, idempotency_key="pack")
    other = ck.grant("u1", 10, idempotency_key="promo", source="promo")
    ck.charge("u1", 30, idempotency_key="c1")  # 10 from the promo (burns first), 20 from the pack
    assert _refund(ck, "u1", "refund-pack", pack.id) == 80
    balance = ck.balance("u1")
    assert balance.available == 0
    assert [grant.grant_id for grant in balance.grants] == []
    assert other.id not in [grant.grant_id for grant in balance.grants]
    item = ck.history("u1", limit=1).items[0]
    assert (item.kind, item.amount, item.available_change) == (TransactionKind.REFUND, 80, -80)
    assert ck.audit().ok


def test_a_refund_is_exactly_once_per_key(ck: CreditKit) -> None:
    pack = ck.grant("u1", 100, idempotency_key="pack")
    assert _refund(ck, "u1", "refund-pack", pack.id) == 100
    ck.grant("u1", 5, idempotency_key="more")
    # The replay answers with what the first run took, and takes nothing more.
    assert _refund(ck, "u1", "refund-pack", pack.id) == 100
    assert ck.balance("u1").available == 5
    report = ck.audit()
    assert report.ok
    assert report.transactions_checked == 3


def test_a_key_used_for_another_grant_is_a_conflict(ck: CreditKit) -> None:
    first = ck.grant("u1", 10, idempotency_key="g1")
    second = ck.grant("u1", 10, idempotency_key="g2")
    _refund(ck, "u1", "refund", first.id)
    with pytest.raises(IdempotencyConflict) as raised:
        _refund(ck, "u1", "refund", second.id)
    assert raised.value.field == "grant_id"


def test_a_spent_grant_refunds_nothing_and_writes_nothing(ck: CreditKit) -> None:
    pack = ck.grant("u1", 10, idempotency_key="pack")
    ck.charge("u1", 10, idempotency_key="c1")
    assert _refund(ck, "u1", "refund-pack", pack.id) == 0
    assert not ck.recorded("refund-pack")
    assert ck.audit().ok


def test_credits_in_a_hold_are_in_use_not_refunded(ck: CreditKit) -> None:
    pack = ck.grant("u1", 10, idempotency_key="pack")
    hold = ck.reserve("u1", 4, idempotency_key="h1")
    assert _refund(ck, "u1", "refund-pack", pack.id) == 6
    ck.commit(hold.id, 4, idempotency_key="commit")
    assert ck.balance("u1").available == 0
    assert ck.audit().ok


def test_only_the_customers_own_grant(ck: CreditKit) -> None:
    theirs = ck.grant("u2", 10, idempotency_key="g-u2")
    with pytest.raises(InvalidRequest) as raised:
        _refund(ck, "u1", "refund", theirs.id)
    assert raised.value.field == "grant_id"
    assert ck.balance("u2").available == 10
